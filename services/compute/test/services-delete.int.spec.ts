import { randomUUID } from 'node:crypto';
import { waitUntil } from '@kumo/service-kit/testing';
import { Db } from '../src/db/db.js';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';

/**
 * `DELETE /os-services/{id}` (Nova's compute service delete): admin only, 404 unknown, 409 while
 * the host has instances or moves, else 204 and the host is gone from os-services,
 * os-hypervisors, its aggregates and the scheduler. Hosts without an agent are rows put in
 * directly (as the bench's `scale-N` hosts are once their agent has stopped).
 */
describe('DELETE /os-services/{id}', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  let db: Db;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['sd-1', 'sd-2'] });
    c = client(env);
    db = env.svc.app.get(Db);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: -1, cores: -1, ram: -1 } } });
  });
  afterAll(() => env?.close());

  /** A registered host whose agent is gone (up for 30 s after this, then down). */
  const addNode = async (host: string): Promise<number> => {
    const [n] = await db.rows<{ id: number }>(`INSERT INTO ${db.t('compute_node')} (host, vcpus, memory_mb, local_gb) VALUES ($1, 16, 32768, 500) RETURNING id`, [host]);
    return n!.id;
  };
  const serviceOf = async (host: string) =>
    ((await c.r('GET', '/os-services', env.admin)).json.services as Array<{ id: number; host: string }>).find((s) => s.host === host);
  const del = (id: number | string, who = env.admin) => c.r('DELETE', `/os-services/${id}`, who);

  it('is admin only; an unknown or malformed id is a 404', async () => {
    const id = await addNode('sd-auth');
    for (const who of [env.a, env.readerA]) expect((await del(id, who)).status).toBe(403);
    expect(await serviceOf('sd-auth')).toMatchObject({ id });
    const missing = await del(999999);
    expect([missing.status, missing.json.itemNotFound.message]).toEqual([404, 'Service 999999 could not be found.']);
    for (const bad of ['abc', '1.5', '99999999999999']) expect((await del(bad)).status).toBe(404);
    expect((await del(id)).status).toBe(204);
    expect((await del(id)).status).toBe(404);
  });

  it('an idle host: 204 (no body), gone from os-services, os-hypervisors, its aggregate and the scheduler', async () => {
    const id = await addNode('sd-idle');
    const agg = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'sd-agg' } } })).json.aggregate.id as number;
    expect((await c.r('POST', `/os-aggregates/${agg}/action`, env.admin, { json: { add_host: { host: 'sd-idle' } } })).json.aggregate.hosts).toEqual(['sd-idle']);
    // A leftover claim (its instance long gone) does not hold the row (claim.host references it).
    await db.exec(`INSERT INTO ${db.t('claim')} (instance_id, kind, host, vcpus, memory_mb, disk_gb) VALUES ($1, 'instance', 'sd-idle', 1, 512, 1)`, [randomUUID()]);

    const res = await del(id);
    expect([res.status, res.text]).toEqual([204, '']);
    expect(await serviceOf('sd-idle')).toBeUndefined();
    const hypervisors = (await c.r('GET', '/os-hypervisors', env.admin)).json.hypervisors as Array<{ hypervisor_hostname: string }>;
    expect(hypervisors.map((h) => h.hypervisor_hostname).sort()).toEqual(['sd-1', 'sd-2']);
    expect((await c.r('GET', `/os-hypervisors/${id}`, env.admin)).status).toBe(404);
    expect((await c.r('GET', `/os-aggregates/${agg}`, env.admin)).json.aggregate.hosts).toEqual([]);
    expect(await db.rows(`SELECT 1 FROM ${db.t('claim')} WHERE host = 'sd-idle'`)).toEqual([]);

    // A boot pinned to it is accepted and fails as for any unknown host: ERROR, No valid host.
    const boot = await c.boot(env.admin, { name: 'to-gone', availability_zone: 'nova:sd-idle' });
    expect(boot.status).toBe(202);
    const failed = await c.waitStatus(env.admin, boot.json.server.id, 'ERROR');
    expect(failed.fault.message).toMatch(/^No valid host was found/);
  });

  it('a host with an instance: 409 and nothing deleted; once the instance is gone, 204 (a live agent re-registers the host)', async () => {
    const agg = (await c.r('POST', '/os-aggregates', env.admin, { json: { aggregate: { name: 'sd-busy' } } })).json.aggregate.id as number;
    await c.r('POST', `/os-aggregates/${agg}/action`, env.admin, { json: { add_host: { host: 'sd-1' } } });
    const vm = await c.bootActive(env.admin, { name: 'busy', availability_zone: 'nova:sd-1' });
    const before = (await serviceOf('sd-1'))!;

    const res = await del(before.id);
    expect([res.status, res.json.conflictingRequest.message]).toEqual([409, 'Unable to delete compute service that is hosting instances. Migrate or delete the instances first.']);
    expect(await serviceOf('sd-1')).toMatchObject({ id: before.id });
    expect((await c.r('GET', `/os-aggregates/${agg}`, env.admin)).json.aggregate.hosts).toEqual(['sd-1']);
    expect((await c.show(env.admin, vm.id)).json.server.status).toBe('ACTIVE');

    expect((await c.r('DELETE', `/servers/${vm.id}`, env.admin)).status).toBe(204);
    await c.waitStatus(env.admin, vm.id, 'DELETED');
    expect((await del(before.id)).status).toBe(204);
    expect((await c.r('GET', `/os-aggregates/${agg}`, env.admin)).json.aggregate.hosts).toEqual([]);
    // Its agent still runs: its next report registers the host again, as a new service.
    const again = await waitUntil('sd-1 re-registered', () => serviceOf('sd-1'), { timeoutMs: 10000, intervalMs: 100 });
    expect(again.id).not.toBe(before.id);
  });

  it('a move in progress from or to the host: 409 until it is over', async () => {
    const id = await addNode('sd-mig');
    const [m] = await db.rows<{ id: number }>(
      `INSERT INTO ${db.t('migration')} (uuid, instance_id, project_id, user_id, migration_type, status, source_compute, dest_compute) VALUES ($1, $2, 'p', 'u', 'migration', 'migrating', 'sd-2', 'sd-mig') RETURNING id`,
      [randomUUID(), randomUUID()],
    );
    const res = await del(id);
    expect([res.status, res.json.conflictingRequest.message]).toEqual([409, 'Unable to delete compute service that has in-progress migrations. Complete the migrations or delete the instances first.']);
    await db.exec(`UPDATE ${db.t('migration')} SET status = 'error' WHERE id = $1`, [m!.id]);
    expect((await del(id)).status).toBe(204);
  });

  it('a boot waiting for the host row while the host is deleted ends in No valid host, not a 500', async () => {
    await addNode('sd-race');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Stands in for the service delete: holds the row FOR UPDATE, deletes it, commits when released.
    const deleting = db.transaction(async (tx) => {
      await tx.rows(`SELECT host FROM ${db.t('compute_node')} WHERE host = 'sd-race' FOR UPDATE`);
      await gate;
      await tx.exec(`DELETE FROM ${db.t('compute_node')} WHERE host = 'sd-race'`);
    });
    const boot = await c.boot(env.admin, { name: 'racer', availability_zone: 'nova:sd-race' });
    expect(boot.status).toBe(202);
    // The scheduler ranked sd-race and now waits for its row lock.
    await waitUntil('scheduler waiting on the host lock', async () => {
      const [w] = await db.rows<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return w!.n > 0;
    }, { timeoutMs: 10000, intervalMs: 20 });
    release();
    await deleting;
    const failed = await c.waitStatus(env.admin, boot.json.server.id, 'ERROR');
    expect(failed.fault.message).toMatch(/^No valid host was found/);
  });
});
