import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, neutronClient, type Project, startComputeWithNetwork } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Nova's floating IP proxy (os-floating-ips, os-floating-ip-pools, addFloatingIp/removeFloatingIp)
// against the real network service, in-process on its own database but on compute's vhost: compute
// calls its REST API with the caller's token (KUMO_NETWORK_URL, as os-security-groups does), its
// RPCs for the servers' ports, and consumes its floatingip.* events to refresh `addresses`.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithNetwork>>;

beforeAll(async () => {
  stack = await startComputeWithNetwork({ hosts: ['fip-1'] });
  env = stack.env;
  c = client(env);
}, 120000);
afterAll(async () => {
  await stack?.close();
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const neutron = (who: Project, method: string, url: string, json?: unknown) => neutronClient(stack.network.url)(who, method, url, json);
const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}` } });
const v235 = at('2.35');

type Address = { addr: string; 'OS-EXT-IPS:type'?: string };
const floatingOf = async (who: Project, id: string) => {
  const s = (await c.show(who, id)).json.server;
  return Object.values(s.addresses as Record<string, Address[]>).flat().filter((a) => a['OS-EXT-IPS:type'] === 'floating').map((a) => a.addr);
};

let ext: { id: string };
/** A project network with a subnet behind a router whose gateway is on the `public` external network. */
async function projectNetwork(who: Project, name: string, cidr: string) {
  const network = (await neutron(who, 'POST', '/v2.0/networks', { network: { name } })).network;
  const subnet = (await neutron(who, 'POST', '/v2.0/subnets', { subnet: { network_id: network.id, cidr, ip_version: 4 } })).subnet;
  const router = (await neutron(who, 'POST', '/v2.0/routers', { router: { name: `${name}-router`, external_gateway_info: { network_id: ext.id } } })).router;
  await neutron(who, 'PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
  return network.id as string;
}

describe('Nova floating IP proxy (2.1–2.35) over the network service', () => {
  let netA: string;
  let serverA: { id: string; addresses: Record<string, Address[]> };

  beforeAll(async () => {
    ext = (await neutron(env.admin, 'POST', '/v2.0/networks', { network: { name: 'public', 'router:external': true } })).network;
    await neutron(env.admin, 'POST', '/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '172.24.4.0/24', ip_version: 4 } });
    // A second pool, created later so `public` is not merely the first one.
    const other = (await neutron(env.admin, 'POST', '/v2.0/networks', { network: { name: 'other-pool', 'router:external': true } })).network;
    await neutron(env.admin, 'POST', '/v2.0/subnets', { subnet: { network_id: other.id, cidr: '172.25.4.0/24', ip_version: 4 } });
    netA = await projectNetwork(env.a, 'fip-a', '10.31.0.0/24');
    serverA = await c.bootActive(env.a, { name: 'fip-a', networks: [{ uuid: netA }] });
  }, 60000);

  it('lists the external networks as pools', async () => {
    const pools = await c.r('GET', '/os-floating-ip-pools', env.a, v235);
    expectSchema('floating_ips.list_floating_ip_pools', pools);
    expect(pools.json.floating_ip_pools.map((p: { name: string }) => p.name).sort()).toEqual(['other-pool', 'public']);
  });

  it('creates (named pool, default pool), lists, shows and deletes floating IPs in Nova shapes; Nova errors', async () => {
    const named = await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: 'public' } });
    expectSchema('floating_ips.create_get_floating_ip', named);
    const fip = named.json.floating_ip;
    expect(fip).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), ip: expect.stringMatching(/^172\.24\.4\./), fixed_ip: null, instance_id: null, pool: 'public' });
    // No body: Nova's default_floating_pool (`public` here); a pool by network id works too.
    const dflt = await c.r('POST', '/os-floating-ips', env.a, v235);
    expectSchema('floating_ips.create_get_floating_ip', dflt);
    expect(dflt.json.floating_ip.pool).toBe('public');
    const byId = await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: ext.id } });
    expect([byId.status, byId.json.floating_ip.pool]).toEqual([200, 'public']);

    const list = await c.r('GET', '/os-floating-ips', env.a, v235);
    expectSchema('floating_ips.list_floating_ips', list);
    expect(list.json.floating_ips.map((f: { id: string }) => f.id).sort()).toEqual([fip.id, dflt.json.floating_ip.id, byId.json.floating_ip.id].sort());
    const shown = await c.r('GET', `/os-floating-ips/${fip.id}`, env.a, v235);
    expectSchema('floating_ips.create_get_floating_ip', shown);
    expect(shown.json.floating_ip).toEqual(fip);

    const noPool = await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: 'non_exist_pool' } });
    expect([noPool.status, noPool.json.itemNotFound?.message]).toEqual([404, 'Floating IP pool not found.']);
    const missing = await c.r('GET', '/os-floating-ips/6a1b8f2e-0d7c-4c1e-9d55-2f9b1f8f0a11', env.a, v235);
    expect([missing.status, missing.json.itemNotFound?.message]).toEqual([404, 'Floating IP not found for ID 6a1b8f2e-0d7c-4c1e-9d55-2f9b1f8f0a11']);
    expect((await c.r('GET', '/os-floating-ips/not-a-uuid', env.a, v235)).status).toBe(404);
    expect((await c.r('DELETE', '/os-floating-ips/not-a-uuid', env.a, v235)).status).toBe(400);

    for (const id of [dflt.json.floating_ip.id, byId.json.floating_ip.id, fip.id]) {
      const del = await c.r('DELETE', `/os-floating-ips/${id}`, env.a, v235);
      expect([del.status, del.text]).toEqual([202, '']);
    }
    const gone = await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.a, v235);
    expect([gone.status, gone.json.itemNotFound?.message]).toEqual([404, `Floating IP not found for ID ${fip.id}`]);
    expect((await c.r('GET', '/os-floating-ips', env.a, v235)).json.floating_ips).toEqual([]);
  });

  it('addFloatingIp / removeFloatingIp: 202, the server shows the address, the floating IP its server; Nova errors', async () => {
    const fip = (await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: 'public' } })).json.floating_ip;
    const fixed = Object.values(serverA.addresses).flat()[0]!.addr;
    const add = await c.action(env.a, serverA.id, { addFloatingIp: { address: fip.ip } });
    expect([add.status, add.text]).toEqual([202, '']);
    const shown = (await c.r('GET', `/os-floating-ips/${fip.id}`, env.a, v235)).json.floating_ip;
    expect(shown).toEqual({ ...fip, fixed_ip: fixed, instance_id: serverA.id });
    await waitUntil('floating IP in the server addresses', async () => (await floatingOf(env.a, serverA.id)).includes(fip.ip), { timeoutMs: 15000, intervalMs: 100 });
    const listed = (await c.r('GET', '/os-floating-ips', env.a, v235)).json.floating_ips;
    expect(listed).toEqual([shown]);

    const rm = await c.action(env.a, serverA.id, { removeFloatingIp: { address: fip.ip } });
    expect([rm.status, rm.text]).toEqual([202, '']);
    await waitUntil('floating IP gone from the addresses', async () => (await floatingOf(env.a, serverA.id)).length === 0, { timeoutMs: 15000, intervalMs: 100 });
    const again = await c.action(env.a, serverA.id, { removeFloatingIp: { address: fip.ip } });
    expect([again.status, again.json.conflictingRequest?.message]).toEqual([409, `Floating IP ${fip.ip} is not associated with instance ${serverA.id}.`]);
    expect((await c.r('GET', `/os-floating-ips/${fip.id}`, env.a, v235)).json.floating_ip).toMatchObject({ fixed_ip: null, instance_id: null });

    // With the fixed address named; one the server does not have is a 400.
    expect((await c.action(env.a, serverA.id, { addFloatingIp: { address: fip.ip, fixed_address: fixed } })).status).toBe(202);
    const wrongFixed = await c.action(env.a, serverA.id, { addFloatingIp: { address: fip.ip, fixed_address: '10.99.99.99' } });
    expect([wrongFixed.status, wrongFixed.json.badRequest?.message]).toEqual([400, 'Specified fixed address not assigned to instance']);
    // Removing it from another server of the project: 409; deleting it releases it.
    const portless = await c.bootActive(env.a, { name: 'fip-none' });
    const other = await c.action(env.a, portless.id, { removeFloatingIp: { address: fip.ip } });
    expect(other.status).toBe(409);
    const noNw = await c.action(env.a, portless.id, { addFloatingIp: { address: fip.ip } });
    expect([noNw.status, noNw.json.badRequest?.message]).toEqual([400, 'No nw_info cache associated with instance']);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.a, v235)).status).toBe(202);
    await waitUntil('deleted floating IP gone from the addresses', async () => (await floatingOf(env.a, serverA.id)).length === 0, { timeoutMs: 15000, intervalMs: 100 });

    const unknown = await c.action(env.a, serverA.id, { addFloatingIp: { address: '172.24.4.250' } });
    expect([unknown.status, unknown.json.itemNotFound?.message]).toEqual([404, 'floating IP not found']);
    expect((await c.action(env.a, serverA.id, { removeFloatingIp: { address: '172.24.4.250' } })).status).toBe(404);
    expect((await c.action(env.a, serverA.id, { addFloatingIp: {} })).status).toBe(400);
    expect((await c.action(env.a, serverA.id, { addFloatingIp: { address: 'not-an-ip' } })).status).toBe(400);
    expect((await c.action(env.a, serverA.id, { removeFloatingIp: { address: '172.24.4.9', fixed_address: '10.0.0.1' } })).status).toBe(400);
  });

  it('associates and dissociates on a rescued server (Tempest ServerRescueTestJSONUnderV235)', async () => {
    const s = await c.bootActive(env.a, { name: 'fip-rescue', networks: [{ uuid: netA }] });
    expect((await c.r('POST', `/servers/${s.id}/action`, env.a, { ...v235, json: { rescue: {} } })).status).toBe(200);
    await c.waitStatus(env.a, s.id, 'RESCUE');
    const created = await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: 'public' } });
    expectSchema('floating_ips.create_get_floating_ip', created);
    const fip = created.json.floating_ip;
    const add = await c.r('POST', `/servers/${s.id}/action`, env.a, { ...v235, json: { addFloatingIp: { address: fip.ip } } });
    // Tempest's add_remove_floating_ip: status 202 only (no body schema, so none exported).
    expect([add.status, add.text]).toEqual([202, '']);
    await waitUntil('floating IP on the rescued server', async () => (await floatingOf(env.a, s.id)).includes(fip.ip), { timeoutMs: 15000, intervalMs: 100 });
    const rm = await c.r('POST', `/servers/${s.id}/action`, env.a, { ...v235, json: { removeFloatingIp: { address: fip.ip } } });
    expect([rm.status, rm.text]).toEqual([202, '']);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.a, v235)).status).toBe(202);
  });

  it('keeps projects apart: another project gets 404 for the address and the server, a reader 403', async () => {
    const fip = (await c.r('POST', '/os-floating-ips', env.a, { ...v235, json: { pool: 'public' } })).json.floating_ip;
    expect((await c.r('GET', `/os-floating-ips/${fip.id}`, env.b, v235)).status).toBe(404);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.b, v235)).status).toBe(404);
    expect((await c.r('GET', '/os-floating-ips', env.b, v235)).json.floating_ips).toEqual([]);
    const netB = await projectNetwork(env.b, 'fip-b', '10.32.0.0/24');
    const serverB = await c.bootActive(env.b, { name: 'fip-b', networks: [{ uuid: netB }] });
    const steal = await c.action(env.b, serverB.id, { addFloatingIp: { address: fip.ip } });
    expect([steal.status, steal.json.itemNotFound?.message]).toEqual([404, 'floating IP not found']);
    expect((await c.action(env.b, serverB.id, { removeFloatingIp: { address: fip.ip } })).status).toBe(404);
    // A's server is not B's to act on.
    expect((await c.action(env.b, serverA.id, { addFloatingIp: { address: fip.ip } })).status).toBe(404);
    // A reader of A's project reads, but neither allocates nor associates.
    expect((await c.r('GET', `/os-floating-ips/${fip.id}`, env.readerA, v235)).status).toBe(200);
    expect((await c.r('POST', '/os-floating-ips', env.readerA, v235)).status).toBe(403);
    expect((await c.action(env.readerA, serverA.id, { addFloatingIp: { address: fip.ip } })).status).toBe(403);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.readerA, v235)).status).toBe(403);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.a, v235)).status).toBe(202);
  });

  it('answers 403 over the network quota (Nova: IP allocation over quota)', async () => {
    await neutron(env.admin, 'PUT', `/v2.0/quotas/${env.b.id}`, { quota: { floatingip: 1 } });
    const one = await c.r('POST', '/os-floating-ips', env.b, v235);
    expect(one.status).toBe(200);
    const two = await c.r('POST', '/os-floating-ips', env.b, v235);
    expect([two.status, two.json.forbidden?.message]).toEqual([403, 'IP allocation over quota.']);
    const pooled = await c.r('POST', '/os-floating-ips', env.b, { ...v235, json: { pool: 'public' } });
    expect([pooled.status, pooled.json.forbidden?.message]).toEqual([403, 'IP allocation over quota in pool public.']);
    expect((await c.r('DELETE', `/os-floating-ips/${one.json.floating_ip.id}`, env.b, v235)).status).toBe(202);
  });

  it('is gone from 2.36 (proxy APIs) and the actions from 2.44', async () => {
    for (const path of ['/os-floating-ips', '/os-floating-ip-pools']) {
      const res = await c.r('GET', path, env.a, at('2.36'));
      expect([path, res.status, res.json?.itemNotFound?.code]).toEqual([path, 404, 404]);
    }
    expect((await c.r('POST', '/os-floating-ips', env.a, { ...at('2.36'), json: { pool: 'public' } })).status).toBe(404);
    expect((await c.r('GET', '/os-floating-ips', env.a, at('2.35'))).status).toBe(200);
    const fip = (await c.r('POST', '/os-floating-ips', env.a, v235)).json.floating_ip;
    const gone = await c.r('POST', `/servers/${serverA.id}/action`, env.a, { ...at('2.44'), json: { addFloatingIp: { address: fip.ip } } });
    expect(gone.status).toBe(404);
    // Still there at 2.43 (the last version with the actions).
    expect((await c.r('POST', `/servers/${serverA.id}/action`, env.a, { ...at('2.43'), json: { addFloatingIp: { address: fip.ip } } })).status).toBe(202);
    expect((await c.r('DELETE', `/os-floating-ips/${fip.id}`, env.a, v235)).status).toBe(202);
  });
});
