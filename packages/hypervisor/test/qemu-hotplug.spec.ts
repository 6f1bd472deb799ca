// Hot-plug seen from inside the guest (its watcher prints HOTPLUG-* markers), plus agent
// death: kill -9 of the process that owns the driver leaves the guest running, and a new
// driver instance reattaches and controls it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createImage, QmpClient, type QemuDriver } from '../src/index.js';
import { PACKAGE_DIR } from '../src/native.js';
import { destroyAll, testDriver, tinySpec, tmpDir, useGuestSlots, waitConsole, waitUntil } from './helpers.js';
import { createNetns, startDhcp, type TestNetns } from './netns.js';

describe('hot-plug visible inside the guest (TCG)', () => {
  useGuestSlots(1);
  let driver: QemuDriver;
  let dir: string;
  let ns: TestNetns;
  let dhcp: ReturnType<typeof startDhcp>;

  beforeAll(async () => {
    dir = tmpDir('hotplug');
    driver = testDriver(`${dir}/state`);
    ns = createNetns();
    dhcp = startDhcp(ns);
    // A persistent TAP made by "the network agent", enslaved to the bridge, in the namespace.
    ns.ip('tuntap', 'add', 'dev', 'kumotap0', 'mode', 'tap', 'vnet_hdr');
    ns.ip('link', 'set', 'kumotap0', 'master', dhcp.bridge);
    ns.ip('link', 'set', 'kumotap0', 'up');
    await createImage(`${dir}/vol1.qcow2`, { format: 'qcow2', sizeBytes: 32 << 20 });
    await driver.spawn(tinySpec('hp1'));
    await waitConsole(driver, 'hp1', 'GUEST-HOLD');
  });
  afterAll(async () => {
    await destroyAll(driver);
    dhcp?.stop();
    ns?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a hot-plugged virtio disk (throttled) appears as vda in the guest and disappears on detach', async () => {
    await driver.attachDisk('hp1', { id: 'vol1', path: `${dir}/vol1.qcow2`, throttle: { iopsTotal: 200 } });
    // 32 MiB = 65536 sectors
    await waitConsole(driver, 'hp1', 'HOTPLUG-BLK-ADD vda 65536', 30_000);
    await driver.detachDisk('hp1', 'vol1');
    await waitConsole(driver, 'hp1', 'HOTPLUG-BLK-DEL vda', 30_000);
  });

  it('a hot-plugged NIC on a TAP in a test namespace appears as eth0 and gets a DHCP lease from that namespace', async () => {
    await driver.attachNic('hp1', { id: 'port1', mac: '52:54:00:77:00:01', tap: { ifname: 'kumotap0', netns: ns.path } });
    await waitConsole(driver, 'hp1', 'HOTPLUG-NET-ADD eth0 52:54:00:77:00:01', 30_000);
    const out = await waitConsole(driver, 'hp1', /DHCP-LEASE 10\.77\.0\.\d+\S* .*iface=eth0/, 60_000);
    console.log(`[hotplug] ${/DHCP-LEASE.*iface=eth0/.exec(out)![0]}`);
    // The lease is in the namespace's dnsmasq: traffic stayed inside the namespace.
    expect(fs.readFileSync(dhcp.leases, 'utf8')).toContain('52:54:00:77:00:01');
    await driver.detachNic('hp1', 'port1');
    await waitConsole(driver, 'hp1', 'HOTPLUG-NET-DEL eth0', 30_000);
  });

  it('vCPU hot-plug is onlined by the guest and visible over QMP; unplug takes it away again', async () => {
    await driver.setVcpus('hp1', 2);
    await waitConsole(driver, 'hp1', 'HOTPLUG-CPU online=0-1', 30_000);
    expect((await driver.getStats('hp1')).vcpus.map((v) => v.index)).toEqual([0, 1]);
    // Unplug: the guest offlines the CPU and acknowledges the ACPI eject.
    await driver.setVcpus('hp1', 1);
    expect((await driver.getStats('hp1')).vcpus).toHaveLength(1);
    await waitConsole(driver, 'hp1', /HOTPLUG-CPU online=0-1[\s\S]*HOTPLUG-CPU online=0\r?\n/, 30_000);
  });

  it('balloon and memory hot-add are visible in QMP and in the guest', async () => {
    await driver.setMemory('hp1', 192);
    await waitUntil(30_000, async () => (await driver.getStats('hp1')).memory.balloonMb === 192, { what: 'balloon 192 MiB' });
    await driver.setMemory('hp1', 256);
    await waitUntil(30_000, async () => (await driver.getStats('hp1')).memory.balloonMb === 256, { what: 'balloon back to 256 MiB' });
    const memTotals = async () => [...(await driver.getConsoleOutput('hp1', { maxBytes: 1 << 20 })).matchAll(/memtotal_kb=(\d+)/g)].map((m) => Number(m[1]));
    // Let the guest settle after the balloon, then take the largest MemTotal it has reported.
    const before = Math.max(...(await memTotals()));
    const dimm = await driver.addMemory('hp1', 128);
    expect((await driver.getInfo('hp1')).spec.memory.dimms).toEqual([{ id: dimm, sizeMb: 128 }]);
    expect((await driver.getStats('hp1')).memory.currentMb).toBe(384);
    // The guest onlines the new memory block(s): MemTotal grows by about 128 MiB.
    // Generous: the guest's 1 s watcher onlines the block, slow when TCG shares a loaded host.
    await waitUntil(120_000, async () => Math.max(...(await memTotals())) > before + 100 * 1024, { what: 'guest MemTotal to grow by the DIMM', intervalMs: 500 });
  });
});

describe('agent killed with SIGKILL: the guest survives and a new driver reattaches', () => {
  useGuestSlots(1);
  let dir: string;
  let driver: QemuDriver | undefined;
  beforeAll(() => {
    dir = tmpDir('kill9');
  });
  afterAll(async () => {
    await destroyAll(driver);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kill -9 of the driver process leaves QEMU running; a fresh QemuDriver lists, controls and destroys it', async () => {
    const stateDir = `${dir}/state`;
    const child = spawn(process.execPath, [path.join(PACKAGE_DIR, 'test/fixtures/run-ts.cjs'), path.join(PACKAGE_DIR, 'test/fixtures/agent-child.ts'), stateDir, 'orphan'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const pid = Number(
      (await waitUntil(60_000, () => /READY (\d+)/.exec(out)?.[1] ?? (out.includes('FAILED') ? (() => { throw new Error(out); })() : null), { what: 'child agent READY' })),
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The guest is not a child that dies with the agent.
    expect(() => process.kill(pid, 0)).not.toThrow();
    driver = testDriver(stateDir);
    const running = await driver.listRunning();
    expect(running).toEqual([expect.objectContaining({ id: 'orphan', pid, state: 'running' })]);
    await waitConsole(driver, 'orphan', 'GUEST-HOLD');
    await driver.pause('orphan');
    expect((await driver.getInfo('orphan')).state).toBe('paused');
    await driver.resume('orphan');
    // It is really the same QEMU (the QMP view agrees), then it can be destroyed.
    await driver.close();
    const c = new QmpClient({ socketPath: `${stateDir}/orphan/qmp.sock` });
    await c.connect();
    expect((await c.execute('query-status')).status).toBe('running');
    c.close();
    driver = testDriver(stateDir);
    await driver.destroy('orphan');
    await waitUntil(10_000, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, { what: 'QEMU gone after destroy' });
    expect(await driver.listDomains()).toEqual([]);
  });
});
