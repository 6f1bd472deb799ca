import { waitUntil } from '@kumo/service-kit/testing';
import { Db } from '../src/db/db.js';
import { client, type ComputeEnv, neutronClient, type Project, request, startComputeWithNetwork } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// The real network service (services/network), in-process on its own database but on compute's
// vhost: compute calls its RPCs (allocate_for_server, list_server_ports) and consumes its events
// from `kumo.events`, as in a deployment.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithNetwork>>;
let admin: Project;

beforeAll(async () => {
  stack = await startComputeWithNetwork({ hosts: ['ne-1'] });
  env = stack.env;
  c = client(env);
  admin = env.admin;
}, 120000);
afterAll(async () => {
  await stack?.close();
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const neutron = (who: Project, method: string, url: string, json?: unknown) => neutronClient(stack.network.url)(who, method, url, json);

type Address = { addr: string; version: number; 'OS-EXT-IPS:type'?: string; 'OS-EXT-IPS-MAC:mac_addr'?: string };
const addressesOf = async (who: Project, id: string): Promise<Record<string, Address[]>> => {
  const res = await c.show(who, id);
  expectSchema('servers.get_server', res);
  return res.json.server.addresses;
};
const floatingIn = (addresses: Record<string, Address[]>, network: string) => (addresses[network] ?? []).filter((a) => a['OS-EXT-IPS:type'] === 'floating').map((a) => a.addr);

/** A tenant network with a subnet behind a router whose gateway is on a fresh external network. */
async function topology(who: Project, name: string, cidr: string, extCidr: string) {
  const ext = (await neutron(admin, 'POST', '/v2.0/networks', { network: { name: `${name}-public`, 'router:external': true } })).network;
  await neutron(admin, 'POST', '/v2.0/subnets', { subnet: { network_id: ext.id, cidr: extCidr, ip_version: 4 } });
  const network = (await neutron(who, 'POST', '/v2.0/networks', { network: { name } })).network;
  const subnet = (await neutron(who, 'POST', '/v2.0/subnets', { subnet: { network_id: network.id, cidr, ip_version: 4 } })).subnet;
  const router = (await neutron(who, 'POST', '/v2.0/routers', { router: { name: `${name}-router`, external_gateway_info: { network_id: ext.id } } })).router;
  await neutron(who, 'PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
  return { ext, network, subnet, router };
}

describe('server addresses follow the network service', () => {
  it('lists a floating IP associated after boot as type floating, and drops it when disassociated or deleted', async () => {
    const { ext, network } = await topology(env.a, 'fip-net', '10.40.0.0/24', '172.24.40.0/24');
    const server = await c.bootActive(env.a, { name: 'fip-vm', networks: [{ uuid: network.id }] });
    const [port] = (await neutron(env.a, 'GET', `/v2.0/ports?device_id=${server.id}`)).ports;
    const fixed = port.fixed_ips[0].ip_address as string;
    expect(await addressesOf(env.a, server.id)).toEqual({
      'fip-net': [{ version: 4, addr: fixed, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address }],
    });

    // What `openstack server add floating ip` does: create, then point it at the server's port.
    const fip = (await neutron(env.a, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } })).floatingip;
    await neutron(env.a, 'PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: port.id } });
    const addr = fip.floating_ip_address as string;
    const withFip = await waitUntil('floating IP in the server addresses', async () => {
      const a = await addressesOf(env.a, server.id);
      return floatingIn(a, 'fip-net').includes(addr) ? a : undefined;
    }, { timeoutMs: 15000, intervalMs: 100 });
    expect(withFip['fip-net']).toEqual([
      { version: 4, addr: fixed, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address },
      { version: 4, addr, 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': port.mac_address },
    ]);
    const ips = await c.r('GET', `/servers/${server.id}/ips`, env.a);
    expectSchema('servers.list_addresses', ips);
    expect(ips.json).toEqual({ addresses: { 'fip-net': [{ version: 4, addr: fixed }, { version: 4, addr }] } });
    const byNet = await c.r('GET', `/servers/${server.id}/ips/fip-net`, env.a);
    expectSchema('servers.list_addresses_by_network', byNet);
    expect(byNet.json['fip-net'].map((a: Address) => a.addr)).toContain(addr);
    const detail = await c.r('GET', '/servers/detail', env.a);
    expect(detail.json.servers.find((s: { id: string }) => s.id === server.id).addresses['fip-net'].map((a: Address) => a.addr)).toContain(addr);
    // Another project still cannot see the server at all.
    expect((await c.show(env.b, server.id)).status).toBe(404);
    expect((await c.r('GET', `/servers/${server.id}/ips`, env.b)).status).toBe(404);

    // Disassociate (`server remove floating ip`): the address goes away.
    await neutron(env.a, 'PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } });
    await waitUntil('floating IP gone after disassociation', async () => floatingIn(await addressesOf(env.a, server.id), 'fip-net').length === 0, { timeoutMs: 15000, intervalMs: 100 });
    expect((await c.r('GET', `/servers/${server.id}/ips`, env.a)).json).toEqual({ addresses: { 'fip-net': [{ version: 4, addr: fixed }] } });

    // Associated at creation, then deleted: shown, then gone.
    const second = (await neutron(env.a, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.id, port_id: port.id } })).floatingip;
    await waitUntil('second floating IP shown', async () => floatingIn(await addressesOf(env.a, server.id), 'fip-net').includes(second.floating_ip_address), { timeoutMs: 15000, intervalMs: 100 });
    await neutron(env.a, 'DELETE', `/v2.0/floatingips/${second.id}`);
    await waitUntil('deleted floating IP gone', async () => floatingIn(await addressesOf(env.a, server.id), 'fip-net').length === 0, { timeoutMs: 15000, intervalMs: 100 });
  });

  it('moves a floating IP from one server to another', async () => {
    const { ext, network } = await topology(env.a, 'move-net', '10.41.0.0/24', '172.24.41.0/24');
    const one = await c.bootActive(env.a, { name: 'one', networks: [{ uuid: network.id }] });
    const two = await c.bootActive(env.a, { name: 'two', networks: [{ uuid: network.id }] });
    const portOf = async (id: string) => (await neutron(env.a, 'GET', `/v2.0/ports?device_id=${id}`)).ports[0];
    const fip = (await neutron(env.a, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.id, port_id: (await portOf(one.id)).id } })).floatingip;
    await waitUntil('floating IP on one', async () => floatingIn(await addressesOf(env.a, one.id), 'move-net').includes(fip.floating_ip_address), { timeoutMs: 15000, intervalMs: 100 });
    // One update: the event names the new port only; the old server is found by the address it lists.
    await neutron(env.a, 'PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: (await portOf(two.id)).id } });
    await waitUntil('floating IP moved to two', async () => {
      const [a1, a2] = await Promise.all([addressesOf(env.a, one.id), addressesOf(env.a, two.id)]);
      return floatingIn(a1, 'move-net').length === 0 && floatingIn(a2, 'move-net').includes(fip.floating_ip_address);
    }, { timeoutMs: 15000, intervalMs: 100 });
  });

  it('redoes a refresh whose event was lost (the mark survives; the sweep picks it up)', async () => {
    const { ext, network } = await topology(env.a, 'sweep-net', '10.42.0.0/24', '172.24.42.0/24');
    const server = await c.bootActive(env.a, { name: 'sweep-vm', networks: [{ uuid: network.id }] });
    const [port] = (await neutron(env.a, 'GET', `/v2.0/ports?device_id=${server.id}`)).ports;
    const fip = (await neutron(env.a, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.id, port_id: port.id } })).floatingip;
    await waitUntil('floating IP shown', async () => floatingIn(await addressesOf(env.a, server.id), 'sweep-net').includes(fip.floating_ip_address), { timeoutMs: 15000, intervalMs: 100 });
    // As if the process had died between marking the instance and refreshing it: stale ports, a
    // mark older than the sweep's threshold, and nothing queued in memory.
    const db = env.svc.app.get(Db);
    await db.exec(`UPDATE ${db.t('instance')} SET ports = '[]', network_refresh_at = now() - interval '1 minute' WHERE id = $1`, [server.id]);
    expect(await addressesOf(env.a, server.id)).toEqual({});
    await waitUntil('addresses restored by the sweep', async () => floatingIn(await addressesOf(env.a, server.id), 'sweep-net').includes(fip.floating_ip_address), { timeoutMs: 15000, intervalMs: 100 });
    await waitUntil('mark cleared', async () => (await db.rows(`SELECT 1 FROM ${db.t('instance')} WHERE id = $1 AND network_refresh_at IS NULL`, [server.id])).length === 1);
  });

  it('re-reads the ports on os-server-external-events network-changed (what Neutron sends Nova)', async () => {
    const { network } = await topology(env.a, 'ext-ev-net', '10.43.0.0/24', '172.24.43.0/24');
    const server = await c.bootActive(env.a, { name: 'ext-ev-vm', networks: [{ uuid: network.id }] });
    const [port] = (await neutron(env.a, 'GET', `/v2.0/ports?device_id=${server.id}`)).ports;
    // Stale cached ports and no mark: only the event can bring them back (the sweep has nothing to redo).
    const db = env.svc.app.get(Db);
    await db.exec(`UPDATE ${db.t('instance')} SET ports = '[]', network_refresh_at = NULL WHERE id = $1`, [server.id]);
    expect(await addressesOf(env.a, server.id)).toEqual({});
    const res = await c.r('POST', '/os-server-external-events', admin, { json: { events: [{ name: 'network-changed', server_uuid: server.id, tag: port.id }] } });
    expectSchema('server_external_events.create', res);
    expect(res.json.events[0].code).toBe(200);
    await waitUntil('addresses restored by the event', async () => (await addressesOf(env.a, server.id))['ext-ev-net']?.[0]?.addr === port.fixed_ips[0].ip_address, { timeoutMs: 15000, intervalMs: 100 });
  });
});

describe('server delete and the network', () => {
  it('an ERROR server (os-resetState) is deleted with its ports released', async () => {
    const { network } = await topology(env.a, 'err-net', '10.44.0.0/24', '172.24.44.0/24');
    const server = await c.bootActive(env.a, { name: 'err-vm', networks: [{ uuid: network.id }] });
    expect((await neutron(env.a, 'GET', `/v2.0/ports?device_id=${server.id}`)).ports).toHaveLength(1);
    expect((await c.action(admin, server.id, { 'os-resetState': { state: 'error' } })).status).toBe(202);
    expect((await c.r('DELETE', `/servers/${server.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, server.id, 'DELETED');
    expect((await neutron(env.a, 'GET', `/v2.0/ports?device_id=${server.id}`)).ports).toEqual([]);
  });

  it('releases the server ports before the server answers 404, so its subnet can be deleted at once (Tempest teardown)', async () => {
    const network = (await neutron(env.a, 'POST', '/v2.0/networks', { network: { name: 'gone-net' } })).network;
    const subnet = (await neutron(env.a, 'POST', '/v2.0/subnets', { subnet: { network_id: network.id, cidr: '10.41.0.0/24', ip_version: 4 } })).subnet;
    const servers = await Promise.all([0, 1, 2].map((n) => c.bootActive(env.a, { name: `gone-${n}`, networks: [{ uuid: network.id }] })));
    expect((await neutron(env.a, 'GET', `/v2.0/ports?network_id=${network.id}`)).ports).toHaveLength(3);
    for (const s of servers) expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    for (const s of servers) {
      await waitUntil(`server ${s.id} to be gone`, async () => (await c.show(env.a, s.id)).status === 404, { timeoutMs: 15000, intervalMs: 20 });
      // The moment it is gone, its port must be gone too.
      expect((await neutron(env.a, 'GET', `/v2.0/ports?device_id=${s.id}`)).ports).toEqual([]);
    }
    const del = await request(stack.network.url, 'DELETE', `/v2.0/subnets/${subnet.id}`, { token: env.a.token });
    expect(del.status).toBe(204);
  });
});
