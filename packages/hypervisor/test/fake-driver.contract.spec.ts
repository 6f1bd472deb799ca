// The driver contract against FakeDriver, plus what only the fake offers: fault-injection
// variants, capacity, and scale (thousands of domains across many fake hosts in one process).
import fs from 'node:fs';
import net from 'node:net';
import { FakeDriver, FakeHostStore, RFB_BANNER, FakeSpawnFailsDriver, FakeFlakySpawnDriver, SmallFakeDriver, FAKE_BOOT_MARKER, type DomainSpecInput } from '../src/index.js';
import { describeDriverContract } from './driver.contract.js';
import { tmpDir } from './helpers.js';

const dir = tmpDir('fake');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => {
  const p = `${dir}/${name}.qcow2`;
  fs.writeFileSync(p, '');
  return p;
};
fs.writeFileSync(`${dir}/vmlinuz`, '');

const spec = (id: string, over: Partial<DomainSpecInput> = {}): DomainSpecInput => ({
  id,
  cpu: { vcpus: 1, maxVcpus: 2 },
  memory: { sizeMb: 256, maxMb: 1024, slots: 2 },
  boot: { kernel: `${dir}/vmlinuz` },
  ...over,
});

let hostN = 0;
describeDriverContract('FakeDriver', () => ({
  makeDriver: async () => new FakeDriver({ host: `fake-${hostN++}` }),
  reopen: async (d) => {
    await d.close();
    return new FakeDriver({ host: (d as FakeDriver).host, store: (d as FakeDriver).store });
  },
  spec,
  diskFile: file,
  nic: (id, mac) => ({ id, mac, tap: { ifname: `tap-${id}` } }),
  bootMarker: FAKE_BOOT_MARKER,
  waitBooted: async () => undefined,
  eventually: async (what, cond) => {
    if (!(await cond())) throw new Error(`fake did not converge: ${what}`);
  },
}));

describe('FakeDriver specifics', () => {
  it('FakeSpawnFailsDriver fails every spawn with SpawnFailed and keeps nothing', async () => {
    const d = new FakeSpawnFailsDriver();
    await expect(d.spawn(spec('a'))).rejects.toMatchObject({ code: 'SpawnFailed' });
    expect(await d.listDomains()).toEqual([]);
  });

  it('FakeFlakySpawnDriver fails N times then works (retry paths)', async () => {
    const d = new FakeFlakySpawnDriver(2);
    await expect(d.spawn(spec('a'))).rejects.toMatchObject({ code: 'SpawnFailed' });
    await expect(d.spawn(spec('a'))).rejects.toMatchObject({ code: 'SpawnFailed' });
    expect((await d.spawn(spec('a'))).state).toBe('running');
  });

  it('SmallFakeDriver refuses what does not fit (InsufficientResources), and fits again after destroy', async () => {
    const d = new SmallFakeDriver();
    await d.spawn(spec('a', { cpu: { vcpus: 2 }, memory: { sizeMb: 1024 } }));
    await d.spawn(spec('b', { cpu: { vcpus: 2 }, memory: { sizeMb: 1024 } }));
    await expect(d.spawn(spec('c'))).rejects.toMatchObject({ code: 'InsufficientResources', message: expect.stringMatching(/4\/4 vCPUs/) });
    await d.destroy('a');
    await d.spawn(spec('c'));
  });

  it('simulated crash and guest poweroff are reported as events with exit reasons', async () => {
    const d = new FakeDriver();
    const events: string[] = [];
    d.subscribe((e) => events.push(`${e.domainId}:${e.type}`));
    await d.spawn(spec('a'));
    await d.spawn(spec('b'));
    d.simulateCrash('a');
    d.simulateGuestPoweroff('b');
    expect((await d.getInfo('a')).exitReason).toMatchObject({ kind: 'signal', signal: 'SIGKILL' });
    expect((await d.getInfo('b')).state).toBe('shutoff');
    expect(events).toEqual(expect.arrayContaining(['a:crashed', 'b:shutoff']));
    expect((await d.start('a')).state).toBe('running');
  });

  it('migration to a host nobody prepared fails and the source keeps running', async () => {
    const d = new FakeDriver();
    await d.spawn(spec('a'));
    await expect(d.migrateOut('a', 'fake:nowhere/a/x')).rejects.toMatchObject({ code: 'MigrationFailed' });
    expect((await d.getInfo('a')).state).toBe('running');
  });

  it('scales: 100 fake hosts x 30 domains in one process, full lifecycle, in well under 10 s', async () => {
    const t0 = Date.now();
    const hosts = Array.from({ length: 100 }, (_, i) => new FakeDriver({ host: `h${i}`, checkFiles: false }));
    await Promise.all(
      hosts.map(async (h, i) => {
        for (let j = 0; j < 30; j++) await h.spawn(spec(`vm-${i}-${j}`, { boot: { kernel: '/nonexistent/ok-with-checkFiles-false' } }));
      }),
    );
    let running = 0;
    for (const h of hosts) running += (await h.listRunning()).length;
    expect(running).toBe(3000);
    for (const h of hosts) {
      await h.pause(`vm-${h.host.slice(1)}-0`);
      await h.getStats(`vm-${h.host.slice(1)}-1`);
      await h.destroy(`vm-${h.host.slice(1)}-2`);
    }
    // Migrate one domain from every host to the next.
    for (let i = 0; i < hosts.length; i++) {
      const src = hosts[i]!;
      const dst = hosts[(i + 1) % hosts.length]!;
      const id = `vm-${i}-3`;
      const inc = await dst.prepareIncomingMigration((await src.getInfo(id)).spec);
      await src.migrateOut(id, inc.uri);
      await dst.finishIncomingMigration(id);
    }
    let total = 0;
    for (const h of hosts) total += (await h.listDomains()).length;
    expect(total).toBe(2900);
    const ms = Date.now() - t0;
    console.log(`[fake scale] 3000 spawns + 300 ops + 100 migrations across 100 hosts in ${ms} ms`);
    expect(ms).toBeLessThan(10_000);
  });

  it('records passwords set through its guest agent; names a VNC endpoint only with console.vnc; counters move', async () => {
    const d = new FakeDriver();
    await d.spawn(spec('a', { console: { vnc: true }, disks: [{ id: 'root', path: file('root') }], nics: [{ id: 'nic0', mac: '52:54:00:00:00:01', tap: { ifname: 'tap0' } }] }));
    await d.spawn(spec('b'));
    await d.setUserPassword('a', 'root', 's3cret');
    expect(d.store.domains.get('a')!.passwords).toEqual({ root: 's3cret' });
    await d.injectNmi('a');
    expect(d.store.domains.get('a')!.nmiCount).toBe(1);
    await expect(d.setUserPassword('a', '', 'x')).rejects.toMatchObject({ code: 'InvalidArgument' });
    expect((await d.getConsole('a')).vncSocket).toMatch(/vnc/);
    expect(await d.getConsole('b')).toEqual({});
    const s = await d.getStats('a');
    expect(s.disks[0]!.rdOps).toBeGreaterThan(0);
    expect(s.nics[0]!.rxBytes).toBeGreaterThan(0);
    await d.close();
  });

  it('a console.vnc domain has a real unix socket speaking RFB 3.8 (handshake, ServerInit, raw frame), closed with the domain', async () => {
    const d = new FakeDriver({ host: 'vnc-host', vncDir: `${dir}/vnc` });
    await d.spawn(spec('v', { console: { vnc: true } }));
    const sock = (await d.getConsole('v')).vncSocket!;
    expect(fs.statSync(sock).isSocket()).toBe(true);
    // Asked again: the same endpoint, still one server.
    expect((await d.getConsole('v')).vncSocket).toBe(sock);
    const conn = net.createConnection(sock);
    let got = Buffer.alloc(0);
    conn.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
    const until = async (what: string, n: number) => {
      for (const end = Date.now() + 5000; got.length < n; ) {
        if (Date.now() > end) throw new Error(`fake VNC server: no ${what} (have ${got.length} of ${n} bytes)`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await until('banner', 12);
    expect(got.subarray(0, 12).toString()).toBe(RFB_BANNER);
    conn.write('RFB 003.008\n');
    await until('security types', 14);
    expect([...got.subarray(12, 14)]).toEqual([1, 1]);
    conn.write(Buffer.from([1])); // None
    await until('SecurityResult', 18);
    expect(got.readUInt32BE(14)).toBe(0);
    conn.write(Buffer.from([1])); // ClientInit, shared
    await until('ServerInit', 18 + 24 + 1);
    const init = got.subarray(18);
    const [w, h] = [init.readUInt16BE(0), init.readUInt16BE(2)];
    expect(init.subarray(24, 24 + init.readUInt32BE(20)).toString()).toBe('v');
    const req = Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    req.writeUInt16BE(w, 6);
    req.writeUInt16BE(h, 8);
    conn.write(Buffer.concat([req, Buffer.from([4, 1, 0, 0, 0, 0, 0, 0x61])])); // full update + key 'a' down
    const frameAt = 18 + 24 + 1;
    await until('a framebuffer update', frameAt + 16 + w * h * 4);
    expect(got[frameAt]).toBe(0);
    const vnc = (await d.vncServer('v'))!;
    expect(vnc.received.subarray(0, 12).toString()).toBe('RFB 003.008\n');
    expect(vnc.keys).toEqual([{ keysym: 0x61, down: true }]);
    // Destroying the domain drops the client and removes the socket, as QEMU exiting would.
    const closed = new Promise((r) => conn.on('close', r));
    await d.destroy('v');
    await closed;
    expect(fs.existsSync(sock)).toBe(false);
    await d.close();
  });

  it('driver instances sharing a store see the same domains (agent restart)', async () => {
    const store = new FakeHostStore();
    const a = new FakeDriver({ store });
    await a.spawn(spec('x'));
    const b = new FakeDriver({ store });
    expect((await b.listRunning()).map((d) => d.id)).toEqual(['x']);
  });
});
