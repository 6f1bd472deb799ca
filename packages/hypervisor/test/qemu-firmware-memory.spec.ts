// Boots the guest under OVMF (UEFI, q35) and with file-backed, preallocated RAM (the
// hugepage code path: memory-backend-file; /dev/shm stands in for a hugetlbfs mount, which the
// dev machines do not have), to show those argv fragments boot, not only parse.
import fs from 'node:fs';
import type { QemuDriver } from '../src/index.js';
import { destroyAll, testDriver, tinySpec, tmpDir, useGuestSlots, waitConsole } from './helpers.js';

describe('firmware and memory backing with real guests (TCG)', () => {
  useGuestSlots(1);
  let driver: QemuDriver;
  let dir: string;
  beforeAll(() => {
    dir = tmpDir('fw');
    driver = testDriver(`${dir}/state`);
  });
  afterAll(async () => {
    await destroyAll(driver);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('UEFI (OVMF) on q35 boots the guest; the instance has its own NVRAM copy', async () => {
    const t0 = Date.now();
    await driver.spawn(tinySpec('uefi', { machine: { type: 'q35', accel: 'tcg', firmware: 'uefi' } }));
    await waitConsole(driver, 'uefi', 'GUEST-HOLD', 120_000);
    console.log(`[uefi] OVMF q35 boot to GUEST-HOLD in ${Date.now() - t0} ms`);
    const vars = `${dir}/state/uefi/OVMF_VARS.fd`;
    expect(fs.statSync(vars).size).toBe(fs.statSync('/usr/share/OVMF/OVMF_VARS_4M.fd').size);
    expect(fs.statSync(vars).mode & 0o777).toBe(0o600);
    const cmd = fs.readFileSync(`${dir}/state/uefi/cmdline`, 'utf8');
    expect(cmd).toContain('if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd');
    await driver.destroy('uefi');
  });

  it('a guest with an i6300esb watchdog and its expiry action boots (the action is QEMU -action watchdog=…)', async () => {
    // The test guest never arms the watchdog, so this shows QEMU accepts and boots the device and
    // the action; what happens on expiry is QEMU's (documented) behaviour, not tested here.
    await driver.spawn(tinySpec('wdog', { watchdog: { action: 'poweroff' } }));
    await waitConsole(driver, 'wdog', 'GUEST-HOLD');
    const cmd = fs.readFileSync(`${dir}/state/wdog/cmdline`, 'utf8');
    expect(cmd).toContain('i6300esb,id=watchdog0');
    expect(cmd).toContain('-action\nwatchdog=poweroff');
    expect((await driver.getInfo('wdog')).state).toBe('running');
    await driver.destroy('wdog');
  });

  it('file-backed preallocated RAM (memory-backend-file, hugepage path) boots', async () => {
    await driver.spawn(tinySpec('membacked', { memory: { sizeMb: 256, hugepages: { pageSize: '2M', path: '/dev/shm' }, prealloc: true } }));
    await waitConsole(driver, 'membacked', 'GUEST-HOLD');
    const cmd = fs.readFileSync(`${dir}/state/membacked/cmdline`, 'utf8');
    expect(cmd).toContain('"qom-type":"memory-backend-file","id":"pc.ram","size":268435456,"mem-path":"/dev/shm","prealloc":true');
    // Preallocated: the whole 256 MiB is resident right away.
    const pid = (await driver.getInfo('membacked')).pid!;
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    const shmem = Number(/RssShmem:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    expect(Math.max(rss, shmem)).toBeGreaterThan(250 * 1024);
    await driver.destroy('membacked');
  });
});
