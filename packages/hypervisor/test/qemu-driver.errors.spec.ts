// Host-side failures are reported as sentences that say what to check, before anything starts.
import fs from 'node:fs';
import { QemuDriver } from '../src/index.js';
import { tinySpec, tmpDir } from './helpers.js';

describe('QemuDriver host errors', () => {
  const dir = tmpDir('errors');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a missing QEMU binary is a HostError naming the Debian package, and nothing is created', async () => {
    const d = new QemuDriver({ stateDir: dir, accel: 'tcg', qemuBinary: 'qemu-system-kumo-missing' });
    await expect(d.spawn(tinySpec('nobin'))).rejects.toMatchObject({
      code: 'HostError',
      message: expect.stringMatching(/qemu-system-kumo-missing not found .*install the Debian package qemu-system-x86/),
    });
    expect(await d.listDomains()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
    await d.close();
  });

  it('a QEMU that refuses its argv is SpawnFailed carrying QEMU\'s own message, and nothing is left', async () => {
    const d = new QemuDriver({ stateDir: dir, accel: 'tcg', maxLifetimeSec: 60 });
    // Custom CPU model that does not exist: schema-valid, only QEMU can say no.
    await expect(d.spawn(tinySpec('badcpu', { cpu: { mode: 'custom', model: 'NoSuchCpu-v9' } }))).rejects.toMatchObject({
      code: 'SpawnFailed',
      message: expect.stringMatching(/unable to find CPU model 'NoSuchCpu-v9'/),
    });
    expect(await d.listDomains()).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual([]);
    await d.close();
  });

  it('UEFI without the firmware file installed is refused naming machine.firmware', async () => {
    const d = new QemuDriver({ stateDir: dir, accel: 'tcg', ovmfCode: '/nonexistent/OVMF_CODE.fd' });
    await expect(d.spawn(tinySpec('noovmf', { machine: { type: 'q35', accel: 'tcg', firmware: 'uefi' } }))).rejects.toMatchObject({
      code: 'InvalidSpec',
      field: 'machine.firmware',
      message: expect.stringMatching(/install the Debian package ovmf/),
    });
    await d.close();
  });
});
