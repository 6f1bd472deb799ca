// Real QEMU (TCG, -M pc) lifecycle: boot marker, QMP status, pause/resume, reboot, ACPI
// powerdown, start again, crash detection, console socket, VNC socket, pinning, stats.
import fs from 'node:fs';
import net from 'node:net';
import { QmpClient, type QemuDriver } from '../src/index.js';
import { resetNativeForTest } from '../src/native.js';
import { count, destroyAll, testDriver, tinySpec, tmpDir, useGuestSlots, waitConsole, waitUntil } from './helpers.js';

describe('QemuDriver lifecycle with a real guest (TCG)', () => {
  // Two guests run at once in places (life1 stays up while life2/life3 come and go).
  useGuestSlots(2);
  let driver: QemuDriver;
  let stateDir: string;

  beforeAll(() => {
    stateDir = tmpDir('life');
    driver = testDriver(stateDir);
  });
  afterAll(async () => {
    await destroyAll(driver);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('boots to the console marker, reports running over QMP and says which accelerator ran', async () => {
    const t0 = Date.now();
    const info = await driver.spawn(tinySpec('life1', { cpu: { vcpus: 1, maxVcpus: 2, pinning: { vcpus: { '0': [1] } } }, console: { vnc: true } }));
    expect(info.state).toBe('running');
    expect(info.pid).toBeGreaterThan(0);
    await waitConsole(driver, 'life1', 'GUEST-HOLD');
    const stats = await driver.getStats('life1');
    console.log(`[accel] life1 booted to GUEST-HOLD in ${Date.now() - t0} ms under ${stats.accel} (${stats.accelReason})`);
    expect(stats.accel).toBe('tcg');
    expect(stats.vcpus).toHaveLength(1);
    // Pinning went through sched_setaffinity on the vCPU thread.
    expect(stats.vcpus[0]!.affinity).toEqual([1]);
    expect(stats.memory.currentMb).toBe(256);
    // Independent QMP view: a second client cannot connect while the driver holds the monitor,
    // so ask through the driver's state and the pid instead.
    expect((await driver.getInfo('life1')).state).toBe('running');
    // Instance directory is private.
    expect(fs.statSync(`${stateDir}/life1`).mode & 0o777).toBe(0o700);
  });

  it('pause stops the vCPUs (heartbeat stops) and resume continues them', async () => {
    await waitConsole(driver, 'life1', /HB 2 /);
    await driver.pause('life1');
    expect((await driver.getInfo('life1')).state).toBe('paused');
    await expect(driver.pause('life1')).rejects.toMatchObject({ code: 'InvalidState' });
    const before = (await driver.getConsoleOutput('life1')).match(/HB \d+/g)!.length;
    // Under TCG a running guest prints one HB per second; 2.5 s without one shows it is stopped.
    await expect(waitUntil(2500, async () => (await driver.getConsoleOutput('life1')).match(/HB \d+/g)!.length > before)).rejects.toThrow(/did not finish/);
    await driver.resume('life1');
    expect((await driver.getInfo('life1')).state).toBe('running');
    await waitUntil(15_000, async () => (await driver.getConsoleOutput('life1')).match(/HB \d+/g)!.length > before, { what: 'heartbeat after resume' });
  });

  it('serves the serial console on a unix socket (input reaches the guest) and VNC on another', async () => {
    const c = await driver.getConsole('life1');
    const sock = net.createConnection(c.serialSocket!);
    await new Promise((r) => sock.once('connect', r));
    sock.write('hello-from-console\n');
    await waitConsole(driver, 'life1', 'CONSOLE-ECHO hello-from-console', 20_000);
    sock.destroy();
    const vnc = net.createConnection(c.vncSocket!);
    const banner = await new Promise<string>((resolve) => vnc.once('data', (d) => resolve(d.toString())));
    vnc.destroy();
    expect(banner).toMatch(/^RFB 003\.00\d/);
  });

  it('hard reboot resets the machine: a second boot marker appears in the same process', async () => {
    const pid = (await driver.getInfo('life1')).pid;
    await driver.reboot('life1', { hard: true });
    await waitUntil(60_000, async () => count(await driver.getConsoleOutput('life1', { maxBytes: 1 << 20 }), 'GUEST-UP') >= 2, { what: 'second GUEST-UP' });
    expect((await driver.getInfo('life1')).pid).toBe(pid);
  });

  it('graceful shutdown uses the ACPI power button and the process ends; start boots it again', async () => {
    await waitConsole(driver, 'life1', /GUEST-HOLD[\s\S]*GUEST-HOLD/);
    const pid = (await driver.getInfo('life1')).pid!;
    const r = await driver.shutdown('life1', { timeoutMs: 30_000 });
    expect(r.method).toBe('acpi');
    expect(await driver.getConsoleOutput('life1')).toContain('GUEST-ACPI-POWERDOWN');
    expect(() => process.kill(pid, 0)).toThrow();
    const info = await driver.getInfo('life1');
    expect(info.state).toBe('shutoff');
    expect(info.exitReason?.kind).toBe('host-request');
    expect(await driver.listRunning()).toEqual([]);
    await expect(driver.pause('life1')).rejects.toMatchObject({ code: 'InvalidState' });
    const again = await driver.start('life1');
    expect(again.state).toBe('running');
    expect(again.pid).not.toBe(pid);
    await waitUntil(60_000, async () => count(await driver.getConsoleOutput('life1', { maxBytes: 1 << 20 }), 'GUEST-UP') >= 3, { what: 'third GUEST-UP' });
  });

  it('a guest that powers itself off ends as shutoff (guest-shutdown); a killed QEMU ends as crashed with the signal', async () => {
    // Guest-initiated poweroff: the test guest without kumo.hold powers off after its checks.
    await driver.spawn(tinySpec('life2', { boot: { kernel: tinySpec('x').boot!.kernel, initrd: tinySpec('x').boot!.initrd, cmdline: 'console=ttyS0 quiet panic=-1 kumo.net=0' } }));
    const events: string[] = [];
    const unsub = driver.subscribe((e) => e.domainId === 'life2' && events.push(e.type));
    await waitUntil(60_000, async () => (await driver.getInfo('life2')).state === 'shutoff', { what: 'guest poweroff', intervalMs: 200 });
    const off = await driver.getInfo('life2');
    expect(off.exitReason).toMatchObject({ kind: 'guest-shutdown' });
    expect(await driver.getConsoleOutput('life2')).toContain('GUEST-POWEROFF');
    await waitUntil(5000, () => events.includes('shutoff'), { what: 'shutoff event' });
    // Crash: SIGKILL the QEMU behind the driver's back.
    await driver.start('life2');
    const pid = (await driver.getInfo('life2')).pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(15_000, async () => (await driver.getInfo('life2')).state === 'crashed', { what: 'crash detection' });
    const crashed = await driver.getInfo('life2');
    expect(crashed.exitReason).toMatchObject({ kind: 'signal', signal: 'SIGKILL' });
    await waitUntil(5000, () => events.includes('crashed'), { what: 'crashed event' });
    unsub();
    await driver.destroy('life2');
    await expect(driver.getInfo('life2')).rejects.toMatchObject({ code: 'DomainNotFound' });
  });

  it('suspend saves memory to a file and ends the process; restore continues the same boot', async () => {
    await waitConsole(driver, 'life1', /GUEST-HOLD[\s\S]*GUEST-HOLD[\s\S]*GUEST-HOLD/);
    await waitConsole(driver, 'life1', /HB \d+ [\s\S]*$/);
    const ups = count(await driver.getConsoleOutput('life1', { maxBytes: 1 << 20 }), 'GUEST-UP');
    await driver.suspend('life1');
    const info = await driver.getInfo('life1');
    expect(info.state).toBe('suspended');
    expect(info.pid).toBeUndefined();
    expect(fs.statSync(`${stateDir}/life1/memory.state`).size).toBeGreaterThan(1 << 20);
    const lastHb = Number([...(await driver.getConsoleOutput('life1')).matchAll(/HB (\d+) /g)].at(-1)![1]);
    await driver.restore('life1');
    expect((await driver.getInfo('life1')).state).toBe('running');
    // The heartbeat counter continues (no reboot: same GUEST-UP count).
    await waitUntil(30_000, async () => Number([...(await driver.getConsoleOutput('life1')).matchAll(/HB (\d+) /g)].at(-1)![1]) > lastHb, { what: 'heartbeat after restore' });
    expect(count(await driver.getConsoleOutput('life1', { maxBytes: 1 << 20 }), 'GUEST-UP')).toBe(ups);
    expect(fs.existsSync(`${stateDir}/life1/memory.state`)).toBe(false);
  });

  it('without the native addon, suspend/restore stream through a unix socket instead of a passed fd', async () => {
    process.env.KUMO_NATIVE_DISABLE = '1';
    resetNativeForTest();
    try {
      const lastHb = Number([...(await driver.getConsoleOutput('life1')).matchAll(/HB (\d+) /g)].at(-1)![1]);
      // A busy event loop (a loaded agent) reads the socket behind QEMU: "completed" arrives while
      // the tail of the stream is still unread. The saved file must be whole all the same (a cut
      // file made restore fail with "QMP connection closed" in CI).
      const spin = setInterval(() => {
        const t = Date.now();
        while (Date.now() - t < 40);
      }, 50);
      try {
        await driver.suspend('life1');
      } finally {
        clearInterval(spin);
      }
      expect((await driver.getInfo('life1')).state).toBe('suspended');
      await driver.restore('life1');
      await waitUntil(30_000, async () => Number([...(await driver.getConsoleOutput('life1')).matchAll(/HB (\d+) /g)].at(-1)![1]) > lastHb, { what: 'heartbeat after restore' });
    } finally {
      delete process.env.KUMO_NATIVE_DISABLE;
      resetNativeForTest();
    }
  });

  it('keeps the serial log under its cap while QEMU keeps appending (rotation to serial.log.1)', async () => {
    await driver.spawn(tinySpec('life3', { console: { logMaxBytes: 4096 } }));
    await waitConsole(driver, 'life3', 'GUEST-HOLD');
    const c = await driver.getConsole('life3');
    const sock = net.createConnection(c.serialSocket!);
    await new Promise((r) => sock.once('connect', r));
    // One line at a time, each waited for: the guest's echo loop reopens ttyS0 per line and is
    // slow under TCG on a loaded host, and input arriving in a burst is dropped by the guest.
    for (let i = 0; i < 60; i++) {
      sock.write(`line-${i}-${'x'.repeat(90)}\n`);
      await waitUntil(30_000, async () => (await driver.getConsoleOutput('life3', { maxBytes: 1 << 20 })).includes(`CONSOLE-ECHO line-${i}-`), { what: `echo of line ${i}`, intervalMs: 50 });
    }
    sock.destroy();
    const log = `${stateDir}/life3/serial.log`;
    expect(fs.existsSync(`${log}.1`)).toBe(true);
    expect(fs.statSync(log).size).toBeLessThanOrEqual(4096);
    // QEMU appends at the new end of file after the truncation (O_APPEND): no sparse gap.
    const hb = Number([...(await driver.getConsoleOutput('life3')).matchAll(/HB (\d+) /g)].at(-1)?.[1] ?? 0);
    await waitUntil(20_000, async () => Number([...(await driver.getConsoleOutput('life3')).matchAll(/HB (\d+) /g)].at(-1)?.[1] ?? 0) > hb, { what: 'heartbeat after rotation' });
    expect(fs.statSync(log).size).toBeLessThanOrEqual(4096 + 512);
    expect(fs.readFileSync(log).includes(0)).toBe(false);
    await driver.destroy('life3');
  });

  it('QMP client: negotiates, runs typed commands, gets events, times out and reconnects', async () => {
    // The driver holds life1's monitor; release it to talk QMP directly.
    await driver.close();
    driver = testDriver(stateDir);
    const c = new QmpClient({ socketPath: `${stateDir}/life1/qmp.sock`, reconnectForMs: 10_000, commandTimeoutMs: 5000 });
    const g = await c.connect();
    expect(g.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect((await c.execute('query-status')).status).toBe('running');
    const stop = c.waitForEvent('STOP', 5000);
    await c.execute('stop');
    await stop;
    const resume = c.waitForEvent('RESUME', 5000);
    await c.execute('cont');
    await resume;
    const balloon = c.waitForEvent('BALLOON_CHANGE', 30_000, (ev) => ev.data!.actual <= 200 * 1048576);
    await c.execute('balloon', { value: 200 * 1048576 });
    expect((await balloon).data!.actual).toBeLessThanOrEqual(200 * 1048576);
    await expect(c.execute('no-such-command')).rejects.toMatchObject({ errorClass: 'CommandNotFound' });
    await expect(c.waitForEvent('NEVER_HAPPENS', 200)).rejects.toThrow(/within 200 ms/);
    const reconnected = new Promise((r) => c.once('reconnect', r));
    c.dropConnectionForTest();
    await reconnected;
    expect((await c.execute('query-kvm')).enabled).toBe(false);
    c.close();
  });
});
