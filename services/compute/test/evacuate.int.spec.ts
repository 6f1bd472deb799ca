import { randomUUID } from 'node:crypto';
import { type DomainSpec, FakeDriver } from '@kumo/hypervisor';
import { Db } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import { Reconciler } from '../src/conductor/reconciler.js';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { FakePeer } from './peers.js';
import { tempestErrors } from './tempest/schemas.js';

/** A destination whose spawns never finish (its agent stays alive but never reports the evacuation). */
class HangingDriver extends FakeDriver {
  override spawn(_spec: DomainSpec): Promise<never> {
    return new Promise<never>(() => undefined);
  }
}

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

describe('evacuate (admin) from a host whose compute service is down', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  let network: FakePeer;
  const bound: { portId: string; serverId: string; host: string }[] = [];
  beforeAll(async () => {
    env = await startComputeEnv({
      hosts: ['e-1', 'e-2', 'e-hang'],
      driverFor: (host) => (host === 'e-hang' ? new HangingDriver({ host, checkFiles: false }) : new FakeDriver({ host, checkFiles: false })),
    });
    c = client(env);
    network = await FakePeer.start(env.vhost.url, 'network', {
      allocate_for_server: () => ({
        ports: [
          {
            id: randomUUID(),
            networkId: 'net-1',
            networkName: 'private',
            macAddress: 'fa:16:3e:00:00:02',
            fixedIps: [{ subnetId: 's', ipAddress: '10.0.0.7', ipVersion: 4 }],
            status: 'DOWN',
            mtu: 1450,
            securityGroups: [],
            floatingIps: [],
            createdForServer: true,
          },
        ],
      }),
      deallocate_for_server: () => ({ deleted: 1, unbound: 0 }),
      bind_port: (req: { portId: string; serverId: string; host: string }) => {
        bound.push(req);
        return { port: { id: req.portId } };
      },
    });
    // e-hang takes nothing unless named.
    expect((await c.r('PUT', '/os-services/disable', env.admin, { json: { host: 'e-hang', binary: 'nova-compute' } })).status).toBe(200);
  }, 60000);
  afterAll(async () => {
    await network?.close();
    await env?.close();
  });

  const v = (minor: number) => ({ 'OpenStack-API-Version': `compute 2.${minor}` });
  const evacuate = (id: string, body: unknown, minor = 1, who = env.admin) =>
    c.r('POST', `/servers/${id}/action`, who, { json: { evacuate: body }, headers: v(minor) });
  const forceDown = async (host: string, down: boolean) =>
    expect((await c.r('PUT', '/os-services/force-down', env.admin, { json: { host, binary: 'nova-compute', forced_down: down }, headers: v(11) })).status).toBe(
      200,
    );
  const bootOn = (host: string, name: string, extra: Record<string, unknown> = {}) =>
    c.bootActive(env.admin, { name, availability_zone: `nova:${host}`, ...extra });
  const domainsOn = async (host: string) => (await env.drivers.get(host)!.listDomains()).map((d) => `${d.id}:${d.state}`);
  const used = async (host: string) =>
    ((await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors as { hypervisor_hostname: string; vcpus_used: number }[]).find(
      (h) => h.hypervisor_hostname === host,
    )!.vcpus_used;
  const migrationsOf = async (id: string) =>
    (await c.r('GET', `/os-migrations?instance_uuid=${id}`, env.admin, { headers: v(23) })).json.migrations as Record<string, unknown>[];

  it('refuses members (403), a host that is up (400), bad bodies (400), its own or an unknown host (400/404); from a forced-down host the server is rebuilt elsewhere: ACTIVE, ports bound there, migration `evacuation` done; the restarted old agent destroys the leftover domain', async () => {
    const s = await bootOn('e-1', 'evac', { networks: 'auto' });
    expect((await evacuate(s.id, { onSharedStorage: false }, 1, env.a)).status).toBe(403);
    const inUse = await evacuate(s.id, { onSharedStorage: false });
    expect(inUse.status).toBe(400);
    expect(inUse.json.badRequest.message).toBe('Compute service of e-1 is still in use.');

    await forceDown('e-1', true);
    try {
      expect((await evacuate(s.id, {})).status).toBe(400); // onSharedStorage is required below 2.14
      expect((await evacuate(s.id, { onSharedStorage: false, force: true })).status).toBe(400); // force only from 2.29
      expect((await evacuate(s.id, { force: true }, 29)).json.badRequest.message).toBe("Can't force to a non-provided destination");
      expect((await evacuate(s.id, { onSharedStorage: true, adminPass: 'x' })).json.badRequest.message).toBe(
        "admin password can't be changed on existing disk",
      );
      expect((await evacuate(s.id, { host: 'e-1', onSharedStorage: false })).json.badRequest.message).toBe("The target host can't be the same one.");
      const unknown = await evacuate(s.id, { host: 'nowhere', onSharedStorage: false });
      expect(unknown.status).toBe(404);
      expect(unknown.json.itemNotFound.message).toBe('Compute host nowhere not found.');
      expect((await c.show(env.admin, s.id)).json.server.status).toBe('ACTIVE');

      const res = await evacuate(s.id, { onSharedStorage: false });
      expect(res.status).toBe(200);
      expectSchema('servers.evacuate_server_with_admin_pass', res);
      expect(res.json.adminPass).toHaveLength(12);
      const moved = await c.waitStatus(env.admin, s.id, 'ACTIVE');
      expect(moved['OS-EXT-SRV-ATTR:host']).toBe('e-2');
      expect(moved.addresses.private).toEqual([expect.objectContaining({ addr: '10.0.0.7' })]);
      expect(await domainsOn('e-2')).toContain(`${s.id}:running`);
      // The dead host still has its copy (nobody could reach it).
      expect(await domainsOn('e-1')).toContain(`${s.id}:running`);
      expect(bound).toEqual([expect.objectContaining({ serverId: s.id, host: 'e-2' })]);
      expect(await used('e-1')).toBe(0);
      expect(await used('e-2')).toBe(1);
      const [m] = await migrationsOf(s.id);
      expectSchema('v2_23/migrations.list_migrations', { status: 200, json: { migrations: [m] } });
      expect(m).toMatchObject({ migration_type: 'evacuation', status: 'done', source_compute: 'e-1', dest_compute: 'e-2', instance_uuid: s.id });
      const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin)).json.instanceActions;
      expect(actions[0]).toMatchObject({ action: 'evacuate', message: null });

      // e-1's agent restarts (still forced down): its first report gets the leftover destroyed (Nova's init_host).
      await env.restartAgent();
      await waitUntil('leftover destroyed on e-1', async () => !(await domainsOn('e-1')).some((d) => d.startsWith(s.id)), { timeoutMs: 10000 });
      expect(await domainsOn('e-2')).toContain(`${s.id}:running`);
      await waitUntil('evacuation completed', async () => (await migrationsOf(s.id))[0]!.status === 'completed', { timeoutMs: 10000 });
      expect((await c.show(env.admin, s.id)).json.server.status).toBe('ACTIVE');
    } finally {
      await forceDown('e-1', false);
    }
    expect((await c.r('DELETE', `/servers/${s.id}`, env.admin)).status).toBe(204);
    await c.waitStatus(env.admin, s.id, 'DELETED');
  });

  it('wrong vm_state or a running task → 409; 2.14: empty body, a stopped server comes back SHUTOFF; 2.29 force to a named host', async () => {
    const paused = await bootOn('e-2', 'paused');
    expect((await c.action(env.admin, paused.id, { pause: null })).status).toBe(202);
    await c.waitStatus(env.admin, paused.id, 'PAUSED');
    const stopped = await bootOn('e-2', 'stopped');
    expect((await c.action(env.admin, stopped.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.admin, stopped.id, 'SHUTOFF');
    await forceDown('e-2', true);
    try {
      const wrong = await evacuate(paused.id, {}, 14);
      expect(wrong.status).toBe(409);
      expect(wrong.json.conflictingRequest.message).toBe(`Cannot 'evacuate' instance ${paused.id} while it is in vm_state paused`);

      const res = await evacuate(stopped.id, { host: 'e-1' }, 14);
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
      const back = await c.waitStatus(env.admin, stopped.id, 'SHUTOFF');
      expect(back['OS-EXT-SRV-ATTR:host']).toBe('e-1');
      expect(await domainsOn('e-1')).toContain(`${stopped.id}:shutoff`);
      expect((await migrationsOf(stopped.id))[0]).toMatchObject({ migration_type: 'evacuation', status: 'done', dest_compute: 'e-1' });
    } finally {
      await forceDown('e-2', false);
    }
    // e-2 is up again: its leftover of the stopped server goes, the paused one stays.
    await waitUntil('leftover destroyed on e-2', async () => !(await domainsOn('e-2')).some((d) => d.startsWith(stopped.id)), { timeoutMs: 10000 });
    expect(await domainsOn('e-2')).toContain(`${paused.id}:paused`);

    // 2.29 force: a disabled host the scheduler would refuse, when named and forced, is taken.
    const s = await bootOn('e-1', 'forced');
    await forceDown('e-1', true);
    try {
      expect((await evacuate(s.id, { host: 'e-hang', force: false }, 29)).status).toBe(200); // filters refuse the disabled host: ERROR
      const failed = await c.waitStatus(env.admin, s.id, 'ERROR');
      expect(failed.fault.message).toMatch(/No valid host/);
      expect((await migrationsOf(s.id))[0]).toMatchObject({ migration_type: 'evacuation', status: 'error' });
    } finally {
      await forceDown('e-1', false);
    }
    for (const id of [paused.id, stopped.id, s.id]) expect((await c.r('DELETE', `/servers/${id}`, env.admin)).status).toBe(204);
    for (const id of [paused.id, stopped.id, s.id]) await c.waitStatus(env.admin, id, 'DELETED');
  });

  it('a destination that never reports: the reconciler ends the evacuation in ERROR with a fault; claims released', async () => {
    const s = await bootOn('e-1', 'silent-dest');
    await forceDown('e-1', true);
    expect((await c.r('PUT', '/os-services/enable', env.admin, { json: { host: 'e-hang', binary: 'nova-compute' } })).status).toBe(200);
    try {
      expect((await evacuate(s.id, { host: 'e-hang', force: true }, 29)).status).toBe(200);
      await waitUntil('spawn sent to e-hang', async () => (await c.show(env.admin, s.id)).json.server.status === 'REBUILD' && (await used('e-hang')) === 1, {
        timeoutMs: 10000,
      });
      expect((await c.show(env.admin, s.id)).json.server['OS-EXT-STS:task_state']).toBe('rebuilding');
      // Time passes without a report (3 × the task timeout).
      const db = env.svc.app.get(Db);
      await db.exec(`UPDATE ${db.t('instance')} SET task_updated_at = now() - interval '1 hour', task_started_at = now() - interval '1 hour' WHERE id = $1`, [
        s.id,
      ]);
      await env.svc.app.get(Reconciler).pass();
      const failed = await c.waitStatus(env.admin, s.id, 'ERROR');
      expect(failed.fault.message).toMatch(/No report from compute host e-hang/);
      expect((await migrationsOf(s.id))[0]).toMatchObject({ migration_type: 'evacuation', status: 'error' });
      expect(await used('e-hang')).toBe(0);
      const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin)).json.instanceActions;
      expect(actions[0]).toMatchObject({ action: 'evacuate', message: expect.stringMatching(/No report from compute host e-hang/) });
    } finally {
      await forceDown('e-1', false);
      await c.r('PUT', '/os-services/disable', env.admin, { json: { host: 'e-hang', binary: 'nova-compute' } });
    }
  });
});
