import { randomUUID } from 'node:crypto';
import { FakeDriver, FakeSpawnFailsDriver } from '@kumo/hypervisor';
import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { FakePeer } from './peers.js';
import { tempestErrors } from './tempest/schemas.js';

describe('failed builds are retried elsewhere, then end in ERROR with the reason', () => {
  let env: ComputeEnv;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['bad-1', 'bad-2', 'good-1'], driverFor: (host) => (host.startsWith('bad') ? new FakeSpawnFailsDriver({ host, checkFiles: false }) : new FakeDriver({ host, checkFiles: false })) });
  });
  afterAll(() => env?.close());

  it('a spawn failure reschedules onto a working host', async () => {
    const c = client(env);
    const servers = await Promise.all(Array.from({ length: 6 }, (_, n) => c.bootActive(env.a, { name: `retry-${n}` })));
    for (const s of servers) expect((await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host']).toBe('good-1');
  });

  it('a forced host that fails ends in ERROR naming the last build error; no claim is left', async () => {
    const c = client(env);
    const r = await c.boot(env.admin, { name: 'forced', availability_zone: 'nova:bad-1' });
    const s = await c.waitStatus(env.admin, r.json.server.id, 'ERROR');
    expect(s.fault.message).toMatch(/No valid host was found.*injected failure/);
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === 'bad-1');
    expect(hv.running_vms).toBe(0);
    const actions = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin);
    expect(actions.json.instanceActions[0]).toMatchObject({ action: 'create' });
    expect((await c.r('DELETE', `/servers/${s.id}`, env.admin)).status).toBe(204);
    await waitUntil('errored server deleted', async () => (await c.show(env.admin, s.id)).status === 404);
  });
});

describe('the reconciler ends tasks whose agent went silent', () => {
  let env: ComputeEnv;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['silent-1'], env: { KUMO_COMPUTE_TASK_TIMEOUT_S: '1', KUMO_COMPUTE_HOST_DOWN_S: '2' } });
  });
  afterAll(() => env?.close());

  it('stop on a host that stopped reporting ends in ERROR; delete then completes locally', async () => {
    const c = client(env);
    const s = await c.bootActive(env.a, { name: 'orphan' });
    await env.agent!.close();
    env.agent = undefined;
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    const errored = await c.waitStatus(env.a, s.id, 'ERROR', 20000);
    expect(errored.fault.message).toMatch(/silent-1 stopped responding/);
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors[0];
    expect(hv.state).toBe('down');
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await waitUntil('local delete', async () => (await c.show(env.a, s.id)).status === 404, { timeoutMs: 15000 });
    expect((await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors[0].running_vms).toBe(0);
  });
});

describe('server groups and networks', () => {
  let env: ComputeEnv;
  let network: FakePeer;
  const deallocated: string[] = [];
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['h-1', 'h-2'] });
    network = await FakePeer.start(env.vhost.url, 'network', {
      allocate_for_server: (req: { serverId: string; networks: unknown }) => {
        if (req.networks === 'auto') return { ports: [{ id: randomUUID(), networkId: 'net-1', networkName: 'private', macAddress: 'fa:16:3e:00:00:01', fixedIps: [{ subnetId: 's', ipAddress: '10.0.0.5', ipVersion: 4 }], status: 'DOWN', mtu: 1450, securityGroups: [], floatingIps: [], createdForServer: true }] };
        throw { code: 'bad_request', message: 'Network nope could not be found' };
      },
      deallocate_for_server: (req: { serverId: string }) => {
        deallocated.push(req.serverId);
        return { deleted: 1, unbound: 0 };
      },
    });
  });
  afterAll(async () => {
    await network?.close();
    await env?.close();
  });

  it('anti-affinity spreads members; a third member finds no host; affinity packs', async () => {
    const c = client(env);
    const g = await c.r('POST', '/os-server-groups', env.a, { json: { server_group: { name: 'spread', policies: ['anti-affinity'] } } });
    expect(tempestErrors('server_groups.create_show_server_group', g.status, g.json)).toEqual([]);
    const hint = { 'os:scheduler_hints': { group: g.json.server_group.id } };
    const boot = (name: string, extra: object) => c.r('POST', '/servers', env.a, { json: { server: { name, imageRef: env.image.publicId, flavorRef: '1', networks: 'none' }, ...extra } });
    const s1 = await c.waitStatus(env.a, (await boot('a1', hint)).json.server.id, 'ACTIVE');
    const s2 = await c.waitStatus(env.a, (await boot('a2', hint)).json.server.id, 'ACTIVE');
    const hostOf = async (id: string) => (await c.show(env.admin, id)).json.server['OS-EXT-SRV-ATTR:host'];
    expect(await hostOf(s1.id)).not.toBe(await hostOf(s2.id));
    const s3 = await c.waitStatus(env.a, (await boot('a3', hint)).json.server.id, 'ERROR');
    expect(s3.fault.message).toMatch(/No valid host/);
    const show = await c.r('GET', `/os-server-groups/${g.json.server_group.id}`, env.a);
    expect(show.json.server_group.members).toHaveLength(3);
    expect((await c.r('GET', `/os-server-groups/${g.json.server_group.id}`, env.b)).status).toBe(404);
    const pack = await c.r('POST', '/os-server-groups', env.a, { json: { server_group: { name: 'pack', policies: ['affinity'] } } });
    const ph = { 'os:scheduler_hints': { group: pack.json.server_group.id } };
    const p1 = await c.waitStatus(env.a, (await boot('p1', ph)).json.server.id, 'ACTIVE');
    const p2 = await c.waitStatus(env.a, (await boot('p2', ph)).json.server.id, 'ACTIVE');
    expect(await hostOf(p1.id)).toBe(await hostOf(p2.id));
    expect((await c.r('POST', '/os-server-groups', env.a, { json: { server_group: { name: 'x', policies: ['sideways'] } } })).status).toBe(400);
  });

  it('networks "auto" gets ports from the network service; addresses show them; delete releases them', async () => {
    const c = client(env);
    const r = await c.boot(env.a, { name: 'net', networks: 'auto' });
    const s = await c.waitStatus(env.a, r.json.server.id, 'ACTIVE');
    expect(s.addresses).toEqual({ private: [{ version: 4, addr: '10.0.0.5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' }] });
    const ips = await c.r('GET', `/servers/${s.id}/ips/private`, env.a);
    expect(tempestErrors('servers.list_addresses_by_network', ips.status, ips.json)).toEqual([]);
    expect((await c.r('GET', '/servers?ip=10.0.0.5', env.a)).json.servers.map((x: { id: string }) => x.id)).toEqual([s.id]);
    await c.r('DELETE', `/servers/${s.id}`, env.a);
    await waitUntil('ports released', () => deallocated.includes(s.id));
    const bad = await c.boot(env.a, { name: 'badnet', networks: [{ uuid: randomUUID() }] });
    const failed = await c.waitStatus(env.a, bad.json.server.id, 'ERROR');
    expect(failed.fault.message).toMatch(/Network nope could not be found/);
  });
});
