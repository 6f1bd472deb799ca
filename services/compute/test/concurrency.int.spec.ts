import { client, type ComputeEnv, startComputeEnv } from './helpers.js';

/** The two races the issue names: quota under concurrent boots, and host capacity under a boot storm. */
describe('quota race', () => {
  let env: ComputeEnv;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['fake-1'] });
  });
  afterAll(() => env?.close());

  it('50 concurrent boots with an instance quota of 10: exactly 10 accepted, the rest 403', async () => {
    const c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 10 } } });
    const results = await Promise.all(Array.from({ length: 50 }, (_, n) => c.boot(env.a, { name: `q-${n}`, flavorRef: '42' })));
    const codes = results.map((r) => r.status);
    expect(codes.filter((s) => s === 202)).toHaveLength(10);
    expect(codes.filter((s) => s === 403)).toHaveLength(40);
    const denied = results.find((r) => r.status === 403)!;
    expect(denied.json.forbidden.message).toMatch(/Quota exceeded for instances/);
    const list = await c.r('GET', '/servers', env.a);
    expect(list.json.servers).toHaveLength(10);
    const limits = await c.r('GET', '/limits', env.a);
    expect(limits.json.limits.absolute.totalInstancesUsed).toBe(10);
    await Promise.all(list.json.servers.map((s: { id: string }) => c.waitStatus(env.a, s.id, 'ACTIVE')));
  });

  it('min/max_count boots as many as the quota allows (at least min_count)', async () => {
    const c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.b.id}`, env.admin, { json: { quota_set: { instances: 3 } } });
    const r = await c.boot(env.b, { name: 'multi', min_count: 2, max_count: 5 });
    expect(r.status).toBe(202);
    const list = await c.r('GET', '/servers', env.b);
    expect(list.json.servers.map((s: { name: string }) => s.name).sort()).toEqual(['multi-1', 'multi-2', 'multi-3']);
    expect((await c.boot(env.b, { min_count: 1 })).status).toBe(403);
    await Promise.all(list.json.servers.map((s: { id: string }) => c.waitStatus(env.b, s.id, 'ACTIVE')));
  });
});

describe('boot storm on tight hosts', () => {
  let env: ComputeEnv;
  const hosts = ['tight-1', 'tight-2', 'tight-3', 'tight-4', 'tight-5'];
  beforeAll(async () => {
    // Each host: 4 vCPUs × ratio 2 = 8 schedulable, 2048 MB RAM, 20 GB disk → 16 m1.nano (128 MB) by RAM, 8 by vCPU.
    env = await startComputeEnv({ hosts, capacity: { vcpus: 4, memoryMb: 2048, localGb: 20, cpuAllocationRatio: 2, ramAllocationRatio: 1 } });
  });
  afterAll(() => env?.close());

  it('200 parallel boots on 5 hosts: no host over capacity, every instance ACTIVE or ERROR "No valid host"', async () => {
    const c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: -1, cores: -1, ram: -1 } } });
    const results = await Promise.all(Array.from({ length: 200 }, (_, n) => c.boot(env.a, { name: `storm-${n}`, flavorRef: '42' })));
    expect(results.filter((r) => r.status !== 202).map((r) => `${r.status} ${JSON.stringify(r.json)}`)).toEqual([]);
    const ids = results.map((r) => r.json.server.id as string);
    const final = await Promise.all(ids.map((id) => c.waitStatus(env.a, id, ['ACTIVE', 'ERROR'], 120000)));
    const active = final.filter((s) => s.status === 'ACTIVE');
    const errors = final.filter((s) => s.status === 'ERROR');
    expect(active).toHaveLength(40); // 5 hosts × 8 vCPUs
    expect(errors).toHaveLength(160);
    for (const e of errors) expect(e.fault.message).toMatch(/^No valid host was found/);
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors;
    for (const h of hv) {
      expect(h.vcpus_used).toBeLessThanOrEqual(8);
      expect(h.memory_mb_used).toBeLessThanOrEqual(2048);
      // The hypervisor agrees with the database: the domains each fake host really runs fit too.
      const domains = await env.drivers.get(h.hypervisor_hostname)!.listDomains();
      expect(domains.length).toBe(h.running_vms);
      expect(domains.length * 128).toBe(h.memory_mb_used);
    }
  }, 180000);
});
