import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';

/**
 * hw:cpu_policy=dedicated and hw:numa_nodes against hosts that report a topology: 8 CPUs in two
 * cells (0-3, 4-7), 4096 MiB, dedicated set 2,3,6,7 → room for two 2-vCPU pinned guests per host.
 */
describe('NUMA and CPU pinning', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  const hosts = ['pin-1', 'pin-2'];
  const DEDICATED = [2, 3, 6, 7];
  beforeAll(async () => {
    env = await startComputeEnv({
      hosts,
      capacity: { vcpus: 8, memoryMb: 4096, localGb: 100, cpuAllocationRatio: 1, numaNodes: 2, cpuDedicatedSet: DEDICATED },
    });
    c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: -1, cores: -1, ram: -1 } } });
    const flavor = async (id: string, vcpus: number, ram: number, specs: Record<string, string>) => {
      expect((await c.r('POST', '/flavors', env.admin, { json: { flavor: { id, name: id, ram, vcpus, disk: 1 } } })).status).toBe(200);
      expect((await c.r('POST', `/flavors/${id}/os-extra_specs`, env.admin, { json: { extra_specs: specs } })).status).toBe(200);
    };
    await flavor('pinned-2', 2, 128, { 'hw:cpu_policy': 'dedicated' });
    await flavor('numa-2', 2, 256, { 'hw:numa_nodes': '2' });
    await flavor('numa-3', 3, 384, { 'hw:numa_nodes': '3' });
  });
  afterAll(() => env?.close());

  afterEach(async () => {
    // Every project's servers (the admin's list is its own project's without all_tenants).
    const all = (await c.r('GET', '/servers?all_tenants=1', env.admin)).json.servers as { id: string }[];
    for (const s of all) await c.r('DELETE', `/servers/${s.id}`, env.admin);
    for (const s of all) await waitUntil(`deleted ${s.id}`, async () => (await c.show(env.admin, s.id)).status === 404);
  });

  const hostOf = async (id: string) => (await c.show(env.admin, id)).json.server['OS-EXT-SRV-ATTR:host'] as string;
  /** Host CPUs each running domain of `host` is pinned to (from the FakeDriver's DomainSpec). */
  const pinsOn = async (host: string) => {
    const d = env.drivers.get(host)!;
    const out = new Map<string, number[]>();
    for (const dom of await d.listDomains()) {
      const info = await d.getInfo(dom.id);
      out.set(dom.id, Object.values(info.spec.cpu.pinning?.vcpus ?? {}).flat());
    }
    return out;
  };

  it('N parallel pinned boots: no host CPU pinned twice, the excess ends in ERROR "No valid host"', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, n) => c.boot(env.a, { name: `pin-${n}`, flavorRef: 'pinned-2' })));
    expect(results.every((r) => r.status === 202)).toBe(true);
    const final = await Promise.all(results.map((r) => c.waitStatus(env.a, r.json.server.id, ['ACTIVE', 'ERROR'], 60000)));
    const active = final.filter((s) => s.status === 'ACTIVE');
    expect(active).toHaveLength(4); // 2 hosts × 4 dedicated CPUs / 2 vCPUs
    for (const e of final.filter((s) => s.status === 'ERROR')) expect(e.fault.message).toMatch(/^No valid host was found/);
    for (const h of hosts) {
      const pins = await pinsOn(h);
      expect(pins.size).toBe(2);
      const all = [...pins.values()].flat();
      expect(all.every((cpu) => DEDICATED.includes(cpu))).toBe(true);
      expect(new Set(all).size).toBe(all.length); // never twice
      expect(all.sort()).toEqual(DEDICATED);
      // Each guest's two vCPUs sit in one cell (hw:numa_nodes defaults to 1 for pinned guests).
      for (const cpus of pins.values()) expect(new Set(cpus.map((x) => (x < 4 ? 0 : 1))).size).toBe(1);
    }
    // Pinned vCPUs are not in the shared pool.
    for (const hv of (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors) expect(hv.vcpus_used).toBe(0);

    // Deleting one frees exactly its CPUs: the next pinned boot gets them.
    const victim = active[0]!;
    const victimHost = await hostOf(victim.id);
    const freed = (await pinsOn(victimHost)).get(victim.id)!;
    await c.r('DELETE', `/servers/${victim.id}`, env.a);
    await c.waitStatus(env.a, victim.id, 'DELETED');
    const next = await c.bootActive(env.a, { name: 'pin-next', flavorRef: 'pinned-2' });
    expect(await hostOf(next.id)).toBe(victimHost);
    expect((await pinsOn(victimHost)).get(next.id)!.sort()).toEqual(freed.sort());
  }, 120000);

  it('a cold migration pins on the destination and gives the source CPUs back on confirm', async () => {
    const s = await c.bootActive(env.admin, { name: 'mover', flavorRef: 'pinned-2', availability_zone: 'nova:pin-1' });
    expect((await c.action(env.admin, s.id, { migrate: null })).status).toBe(202);
    await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
    expect(await hostOf(s.id)).toBe('pin-2');
    expect((await pinsOn('pin-2')).get(s.id)).toHaveLength(2);
    expect((await c.action(env.admin, s.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, s.id, 'ACTIVE');
    // pin-1 has room for two pinned guests again only if the source claim (and its CPUs) went back.
    const two = await Promise.all([1, 2].map((n) => c.bootActive(env.admin, { name: `back-${n}`, flavorRef: 'pinned-2', availability_zone: 'nova:pin-1' })));
    const pins = [...(await pinsOn('pin-1')).values()].flat();
    expect(two).toHaveLength(2);
    expect(pins.sort()).toEqual(DEDICATED);
  }, 60000);

  it("a live migration pins on the destination's own free CPUs", async () => {
    // pin-2 cell 0 is taken, so the mover must get cell 1 there (6,7) whatever it had on pin-1 (2,3).
    await c.bootActive(env.admin, { name: 'blocker', flavorRef: 'pinned-2', availability_zone: 'nova:pin-2' });
    const s = await c.bootActive(env.admin, { name: 'live', flavorRef: 'pinned-2', availability_zone: 'nova:pin-1' });
    expect((await pinsOn('pin-1')).get(s.id)!.sort()).toEqual([2, 3]);
    const r = await c.action(env.admin, s.id, { 'os-migrateLive': { host: null, block_migration: false, disk_over_commit: false } });
    expect(r.status).toBe(202);
    await waitUntil('live migration done', async () => (await hostOf(s.id)) === 'pin-2' && (await c.show(env.admin, s.id)).json.server.status === 'ACTIVE', {
      timeoutMs: 30000,
    });
    expect((await pinsOn('pin-2')).get(s.id)!.sort()).toEqual([6, 7]);
    const all = [...(await pinsOn('pin-2')).values()].flat();
    expect(new Set(all).size).toBe(all.length);
  }, 60000);

  it('hw:numa_nodes: guest nodes on distinct host cells; more nodes than cells → No valid host', async () => {
    const s = await c.bootActive(env.a, { name: 'numa', flavorRef: 'numa-2' });
    const host = await hostOf(s.id);
    const spec = (await env.drivers.get(host)!.getInfo(s.id)).spec;
    expect(spec.memory.numa).toEqual([
      { cpus: [0], memoryMb: 128, hostNodes: [0] },
      { cpus: [1], memoryMb: 128, hostNodes: [1] },
    ]);
    expect(spec.cpu.pinning).toBeUndefined();
    const three = await c.boot(env.a, { name: 'numa3', flavorRef: 'numa-3' });
    expect((await c.waitStatus(env.a, three.json.server.id, 'ERROR')).fault.message).toMatch(/^No valid host was found/);
  }, 60000);
});
