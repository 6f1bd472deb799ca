// The HypervisorDriver contract as executable tests. Run against FakeDriver on every run
// (fake-driver.contract.spec.ts) and against QemuDriver with real TCG guests
// (qemu-driver.contract.spec.ts). Whatever the interface's doc comments promise is checked
// here; an implementation that passes this suite can be swapped for the other.
import type { DomainSpecInput, HypervisorDriver, NicSpecInput } from '../src/index.js';

export interface ContractHarness {
  /** A fresh host. Called twice for migration (source and destination). */
  makeDriver(): Promise<HypervisorDriver>;
  /** Closes `d` (the agent went away) and returns a new driver instance on the same host state. */
  reopen(d: HypervisorDriver): Promise<HypervisorDriver>;
  spec(id: string, over?: Partial<DomainSpecInput>): DomainSpecInput;
  /** An existing image file to attach as a second disk. */
  diskFile(name: string): string;
  /** A NIC this host can back (TAP inside a test namespace for QEMU). */
  nic(id: string, mac: string): NicSpecInput;
  /** Console text printed once per boot. */
  bootMarker: string;
  /** Resolves when the guest OS is up enough to take part in hot-unplug. */
  waitBooted(d: HypervisorDriver, id: string, boots?: number): Promise<void>;
  /** Waits until `cond` holds (the fake converges immediately, QEMU guests need time). */
  eventually(what: string, cond: () => Promise<boolean>): Promise<void>;
}

async function rejectsWith(p: Promise<unknown>, code: string, match?: RegExp): Promise<Error & { code: string }> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeDefined();
  expect((err as { code?: string }).code).toBe(code);
  if (match) expect((err as Error).message).toMatch(match);
  return err as Error & { code: string };
}

export function describeDriverContract(name: string, h: () => ContractHarness): void {
  describe(`HypervisorDriver contract: ${name}`, () => {
    let d: HypervisorDriver;
    let hx: ContractHarness;
    const created: HypervisorDriver[] = [];

    beforeAll(async () => {
      hx = h();
      d = await hx.makeDriver();
      created.push(d);
    });
    afterAll(async () => {
      for (const drv of created) {
        for (const x of await drv.listDomains().catch(() => [])) await drv.destroy(x.id).catch(() => undefined);
        await drv.close();
      }
    });

    const consoleCount = async (id: string) => (await d.getConsoleOutput(id, { maxBytes: 1 << 20 })).split(hx.bootMarker).length - 1;

    it('reports capabilities with the accelerator and why', async () => {
      const c = await d.getCapabilities();
      expect(['kvm', 'tcg']).toContain(c.accel);
      expect(c.accelReason.length).toBeGreaterThan(3);
      expect(c.hypervisorVersion).toBeTruthy();
    });

    it('refuses an invalid spec naming the field, and creates nothing', async () => {
      const before = await d.listDomains();
      const e = await rejectsWith(d.spawn({ ...hx.spec('bad1'), cpu: { vcpus: 3, maxVcpus: 2 } }), 'InvalidSpec', /cpu\.maxVcpus/);
      expect((e as unknown as { field: string }).field).toBe('cpu.maxVcpus');
      expect(await d.listDomains()).toEqual(before);
    });

    it('a spawn that fails (missing disk image) leaves nothing behind', async () => {
      const before = await d.listDomains();
      await rejectsWith(d.spawn(hx.spec('bad2', { disks: [{ id: 'd0', path: '/nonexistent/kumo-missing.qcow2' }] })), 'InvalidSpec', /disks\[0\]\.path/);
      expect(await d.listDomains()).toEqual(before);
      await rejectsWith(d.getInfo('bad2'), 'DomainNotFound');
    });

    it('unknown domains are DomainNotFound for every operation', async () => {
      await rejectsWith(d.getInfo('nope'), 'DomainNotFound');
      await rejectsWith(d.pause('nope'), 'DomainNotFound');
      await rejectsWith(d.destroy('nope'), 'DomainNotFound');
      await rejectsWith(d.attachDisk('nope', { id: 'x', path: hx.diskFile('x') }), 'DomainNotFound');
    });

    it('spawn: running, listed, defaults filled; a second spawn with the same id is refused without touching the first', async () => {
      const events: string[] = [];
      const unsub = d.subscribe((e) => e.domainId === 'c1' && events.push(e.type));
      const info = await d.spawn(hx.spec('c1'));
      expect(info.state).toBe('running');
      expect(info.spec.disks).toEqual([]);
      expect(info.spec.console.logMaxBytes).toBeGreaterThan(0);
      expect((await d.listRunning()).map((x) => x.id)).toContain('c1');
      await rejectsWith(d.spawn(hx.spec('c1')), 'DomainAlreadyExists');
      expect((await d.getInfo('c1')).state).toBe('running');
      expect(events).toContain('started');
      unsub();
      await hx.waitBooted(d, 'c1');
      expect(await consoleCount('c1')).toBe(1);
    });

    it('pause/resume follow the state machine', async () => {
      await d.pause('c1');
      expect((await d.getInfo('c1')).state).toBe('paused');
      await rejectsWith(d.pause('c1'), 'InvalidState', /while it is paused/);
      await rejectsWith(d.reboot('c1'), 'InvalidState');
      await d.resume('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
      await rejectsWith(d.resume('c1'), 'InvalidState');
    });

    it('stats: accelerator, vCPUs, memory', async () => {
      const s = await d.getStats('c1');
      expect(['kvm', 'tcg']).toContain(s.accel);
      expect(s.accelReason).toBeTruthy();
      expect(s.vcpus).toHaveLength(1);
      expect(s.memory.currentMb).toBe(256);
      expect(s.state).toBe('running');
    });

    it('setUserPassword: through the guest agent if the driver has one (else GuestAgentUnavailable), only while running', async () => {
      await rejectsWith(d.setUserPassword('nope', 'root', 'pw'), 'DomainNotFound');
      if ((await d.getCapabilities()).features.guestAgent) await d.setUserPassword('c1', 'root', 'Newpass1234');
      else await rejectsWith(d.setUserPassword('c1', 'root', 'Newpass1234'), 'GuestAgentUnavailable', /c1.*guest agent/);
      await d.pause('c1');
      await rejectsWith(d.setUserPassword('c1', 'root', 'pw'), 'InvalidState');
      await d.resume('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
    });

    it('injectNmi: while running or paused, the state unchanged', async () => {
      await rejectsWith(d.injectNmi('nope'), 'DomainNotFound');
      await d.injectNmi('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
      await d.pause('c1');
      await d.injectNmi('c1');
      expect((await d.getInfo('c1')).state).toBe('paused');
      await d.resume('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
    });

    it('attach/detach disk (hot-plug), with duplicate and unknown ids refused', async () => {
      await d.attachDisk('c1', { id: 'data', path: hx.diskFile('data'), format: 'qcow2' });
      expect((await d.getInfo('c1')).spec.disks.map((x) => x.id)).toEqual(['data']);
      await rejectsWith(d.attachDisk('c1', { id: 'data', path: hx.diskFile('data2') }), 'DeviceAlreadyExists');
      await rejectsWith(d.attachDisk('c1', { id: 'bad', path: '/nonexistent/x.qcow2' }), 'InvalidSpec', /does not exist/);
      await rejectsWith(d.detachDisk('c1', 'nope'), 'DeviceNotFound');
      await d.detachDisk('c1', 'data');
      expect((await d.getInfo('c1')).spec.disks).toEqual([]);
    });

    it('attach/detach NIC (hot-plug)', async () => {
      await d.attachNic('c1', hx.nic('port1', '52:54:00:c0:00:01'));
      expect((await d.getInfo('c1')).spec.nics.map((x) => x.id)).toEqual(['port1']);
      await rejectsWith(d.attachNic('c1', hx.nic('port1', '52:54:00:c0:00:02')), 'DeviceAlreadyExists');
      await rejectsWith(d.attachNic('c1', { ...hx.nic('port2', '52:54:00:c0:00:03'), mac: 'zz' } as NicSpecInput), 'InvalidSpec', /nic\.mac/);
      await d.detachNic('c1', 'port1');
      expect((await d.getInfo('c1')).spec.nics).toEqual([]);
      await rejectsWith(d.detachNic('c1', 'port1'), 'DeviceNotFound');
    });

    it('vCPU hot-plug within maxVcpus', async () => {
      await rejectsWith(d.setVcpus('c1', 3), 'InvalidArgument', /1\.\.2/);
      await d.setVcpus('c1', 2);
      expect((await d.getInfo('c1')).spec.cpu.vcpus).toBe(2);
      expect((await d.getStats('c1')).vcpus).toHaveLength(2);
    });

    it('balloon target within current RAM', async () => {
      await rejectsWith(d.setMemory('c1', 4096), 'InvalidArgument', /targetMb/);
      await d.setMemory('c1', 200);
      await hx.eventually('balloon to reach 200 MiB', async () => (await d.getStats('c1')).memory.balloonMb === 200);
    });

    it('memory hot-add into a free slot, refused past maxMb', async () => {
      const dimm = await d.addMemory('c1', 128);
      expect((await d.getInfo('c1')).spec.memory.dimms).toEqual([{ id: dimm, sizeMb: 128 }]);
      expect((await d.getStats('c1')).memory.currentMb).toBe(384);
      await rejectsWith(d.addMemory('c1', 4096), 'InsufficientResources', /maxMb/);
    });

    it('a new driver instance on the same host reattaches to running domains and controls them', async () => {
      // The old instance goes away (agent restart); the domain must not notice.
      d = await hx.reopen(d);
      created.push(d);
      expect((await d.listRunning()).map((x) => x.id)).toContain('c1');
      const info = await d.getInfo('c1');
      expect(info.state).toBe('running');
      expect(info.spec.memory.dimms).toHaveLength(1);
      expect(info.spec.cpu.vcpus).toBe(2);
      await d.pause('c1');
      expect((await d.getInfo('c1')).state).toBe('paused');
      await d.resume('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
    });

    it('hard reboot boots again in place', async () => {
      const n = await consoleCount('c1');
      await d.reboot('c1', { hard: true });
      expect((await d.getInfo('c1')).state).toBe('running');
      await hx.eventually('a new boot marker', async () => (await consoleCount('c1')) > n);
      await hx.waitBooted(d, 'c1', n + 1);
    });

    it('shutdown -> shutoff (kept, not running); definition edits while off; start boots it', async () => {
      const r = await d.shutdown('c1', { timeoutMs: 30_000 });
      expect(['acpi', 'quit', 'kill']).toContain(r.method);
      const off = await d.getInfo('c1');
      expect(off.state).toBe('shutoff');
      expect(off.exitReason).toBeDefined();
      expect((await d.listRunning()).map((x) => x.id)).not.toContain('c1');
      expect((await d.listDomains()).map((x) => x.id)).toContain('c1');
      await rejectsWith(d.setVcpus('c1', 1), 'InvalidState');
      await d.attachDisk('c1', { id: 'cold', path: hx.diskFile('cold') });
      expect((await d.getInfo('c1')).spec.disks.map((x) => x.id)).toEqual(['cold']);
      const n = await consoleCount('c1');
      const on = await d.start('c1');
      expect(on.state).toBe('running');
      expect(on.spec.disks.map((x) => x.id)).toEqual(['cold']);
      await hx.eventually('boot marker after start', async () => (await consoleCount('c1')) > n);
      await rejectsWith(d.start('c1'), 'InvalidState');
    });

    it('suspend -> suspended (no process); restore -> running', async () => {
      await d.suspend('c1');
      expect((await d.getInfo('c1')).state).toBe('suspended');
      expect((await d.listRunning()).map((x) => x.id)).not.toContain('c1');
      await rejectsWith(d.pause('c1'), 'InvalidState');
      await d.restore('c1');
      expect((await d.getInfo('c1')).state).toBe('running');
    });

    it('live migration: an aborted signal cancels it (source keeps running), forceComplete pauses the source so the destination starts paused', async () => {
      const dst = await hx.makeDriver();
      created.push(dst);
      const spec = (await d.getInfo('c1')).spec;
      const inc = await dst.prepareIncomingMigration(spec);
      const abort = new AbortController();
      abort.abort();
      await rejectsWith(d.migrateOut('c1', inc.uri, { signal: abort.signal }), 'MigrationFailed', /cancelled/);
      expect((await d.getInfo('c1')).state).toBe('running');
      await dst.destroy('c1');

      await d.spawn(hx.spec('c4'));
      const inc4 = await dst.prepareIncomingMigration((await d.getInfo('c4')).spec);
      const force = new AbortController();
      force.abort();
      await d.migrateOut('c4', inc4.uri, { forceComplete: force.signal });
      expect((await dst.finishIncomingMigration('c4')).state).toBe('paused');
      await rejectsWith(d.getInfo('c4'), 'DomainNotFound');
      await dst.resume('c4');
      expect((await dst.getInfo('c4')).state).toBe('running');
      await dst.destroy('c4');
    });

    it('live migration to another host: the destination owns it, the source forgets it', async () => {
      const dst = await hx.makeDriver();
      created.push(dst);
      const spec = (await d.getInfo('c1')).spec;
      const inc = await dst.prepareIncomingMigration(spec);
      expect((await dst.getInfo('c1')).state).toBe('migrating');
      const res = await d.migrateOut('c1', inc.uri, { maxDowntimeMs: 500 });
      expect(res.totalTimeMs).toBeGreaterThanOrEqual(0);
      expect(res.downtimeMs).toBeGreaterThanOrEqual(0);
      const info = await dst.finishIncomingMigration('c1');
      expect(info.state).toBe('running');
      await rejectsWith(d.getInfo('c1'), 'DomainNotFound');
      expect((await dst.getInfo('c1')).spec.disks.map((x) => x.id)).toEqual(['cold']);
      await rejectsWith(d.migrateOut('c1', inc.uri), 'DomainNotFound');
      await dst.destroy('c1');
      await rejectsWith(dst.getInfo('c1'), 'DomainNotFound');
    });

    it('destroy works from every state and forgets the domain', async () => {
      await d.spawn(hx.spec('c2'));
      await d.pause('c2');
      await d.destroy('c2');
      await rejectsWith(d.getInfo('c2'), 'DomainNotFound');
      await d.spawn(hx.spec('c3'));
      await d.suspend('c3');
      await d.destroy('c3');
      expect((await d.listDomains()).map((x) => x.id)).not.toContain('c3');
      // The id is free again.
      await d.spawn(hx.spec('c3'));
      await d.destroy('c3');
    });
  });
}
