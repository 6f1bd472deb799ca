import { EVENTS_EXCHANGE } from '@kumo/contracts';
import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import amqplib from 'amqplib';
import { client, externalNetwork, type NetEnv, startNetEnv } from './helpers.js';

/** What compute and the network agents see: the network.* RPCs and the port/router/floatingip/security_group events. */
let env: NetEnv;
let c: ReturnType<typeof client>;
let conn: AmqpConnection;
let transport: AmqpRpcTransport;
let raw: amqplib.ChannelModel;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let events: { key: string; body: { data: Record<string, any> } }[] = [];

beforeAll(async () => {
  env = await startNetEnv();
  c = client(env);
  conn = new AmqpConnection({ url: env.vhost.url, name: 'network-test-client', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
  transport = new AmqpRpcTransport(conn, 'compute', 10000);
  raw = await amqplib.connect(env.vhost.url);
  const ch = await raw.createChannel();
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  for (const k of ['port.*', 'router.*', 'floatingip.*', 'security_group.*']) await ch.bindQueue(queue, EVENTS_EXCHANGE, k);
  await ch.consume(queue, (m) => m && events.push({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }), { noAck: true });
}, 60000);
afterAll(async () => {
  await raw?.close();
  await transport?.close();
  await conn?.close();
  await env?.close();
});

const net = () => transport.client('network');

describe('RPC', () => {
  it('allocates ports for a server (idempotently), lists, binds, looks up metadata, deallocates', async () => {
    const n = await c.network(env.a, { name: 'rpc-net' });
    const s = await c.subnet(env.a, n.id, '10.50.0.0/24');
    const serverId = '11111111-2222-3333-4444-555555555555';
    const userPort = await c.port(env.a, n.id, { name: 'mine' });
    const req = { projectId: env.a.id, serverId, networks: [{ networkId: n.id, fixedIp: '10.50.0.9' }, { portId: userPort.id }], host: 'node1' };
    const first = await net().call('allocate_for_server', req);
    expect(first.ports).toHaveLength(2);
    expect(first.ports[0]).toMatchObject({ networkId: n.id, networkName: 'rpc-net', fixedIps: [{ subnetId: s.id, ipAddress: '10.50.0.9', ipVersion: 4 }], status: 'DOWN', mtu: 1450, createdForServer: true, floatingIps: [] });
    expect(first.ports[0]!.securityGroups).toHaveLength(1);
    expect(first.ports[1]).toMatchObject({ id: userPort.id, createdForServer: false });
    const again = await net().call('allocate_for_server', req);
    expect(again.ports.map((p) => p.id).sort()).toEqual(first.ports.map((p) => p.id).sort());
    const shown = (await c.get(env.admin, `/v2.0/ports/${first.ports[0]!.id}`)).json.port;
    expect(shown).toMatchObject({ device_id: serverId, device_owner: 'compute:nova', 'binding:host_id': 'node1', 'binding:vif_type': 'bridge' });
    expect((await net().call('list_server_ports', { serverId })).ports).toHaveLength(2);
    const bound = await net().call('bind_port', { portId: first.ports[0]!.id, serverId, host: 'node2' });
    expect(bound.port.id).toBe(first.ports[0]!.id);
    expect((await c.get(env.admin, `/v2.0/ports/${first.ports[0]!.id}`)).json.port['binding:host_id']).toBe('node2');
    expect(await net().call('metadata_lookup', { networkId: n.id, fixedIp: '10.50.0.9' })).toEqual({ serverId, projectId: env.a.id, portId: first.ports[0]!.id });
    expect(await net().call('metadata_lookup', { networkId: n.id, fixedIp: '10.50.0.99' })).toEqual({ serverId: null, projectId: null, portId: null });
    expect(await net().call('deallocate_for_server', { serverId })).toEqual({ deleted: 1, unbound: 1 });
    expect(await net().call('deallocate_for_server', { serverId })).toEqual({ deleted: 0, unbound: 0 });
    expect((await c.get(env.a, `/v2.0/ports/${first.ports[0]!.id}`)).status).toBe(404);
    expect((await c.get(env.a, `/v2.0/ports/${userPort.id}`)).json.port).toMatchObject({ device_id: '', device_owner: '' });
    expect(await net().call('unbind_port', { portId: userPort.id })).toEqual({ ok: true });
  });

  it("refuses another project's network and an ambiguous 'auto', leaving nothing behind", async () => {
    const other = await c.network(env.b);
    await c.subnet(env.b, other.id, '10.51.0.0/24');
    await expect(net().call('allocate_for_server', { projectId: env.a.id, serverId: 'srv-x', networks: [{ networkId: other.id }] })).rejects.toMatchObject({ code: 'not_found' });
    await c.network(env.b, { name: 'second' });
    await expect(net().call('allocate_for_server', { projectId: env.b.id, serverId: 'srv-x', networks: 'auto' })).rejects.toMatchObject({ code: 'conflict' });
    expect((await net().call('list_server_ports', { serverId: 'srv-x' })).ports).toEqual([]);
    const full = await c.network(env.b);
    await c.subnet(env.b, full.id, '10.52.0.0/30');
    await c.port(env.b, full.id); // a /30 holds one address besides the gateway
    await expect(net().call('allocate_for_server', { projectId: env.b.id, serverId: 'srv-y', networks: [{ networkId: full.id }] })).rejects.toMatchObject({ code: 'conflict' });
    expect(await net().call('allocate_for_server', { projectId: env.b.id, serverId: 'srv-z', networks: 'none' })).toEqual({ ports: [] });
  });
});

describe('events', () => {
  it('publishes port, router, floatingip and security_group events with Neutron-shaped resources', async () => {
    events = [];
    const ext = await externalNetwork(env, '172.25.4.0/24');
    const n = await c.network(env.a);
    const s = await c.subnet(env.a, n.id, '10.53.0.0/24');
    const p = await c.port(env.a, n.id);
    const r = await c.router(env.a, { external_gateway_info: { network_id: ext.net.id } });
    await c.put(env.a, `/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: s.id });
    const f = (await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id, port_id: p.id } })).json.floatingip;
    const g = (await c.post(env.a, '/v2.0/security-groups', { security_group: { name: 'evt' } })).json.security_group;
    await c.del(env.a, `/v2.0/floatingips/${f.id}`);
    await c.del(env.a, `/v2.0/ports/${p.id}`);
    await waitUntil('events', () => events.some((e) => e.key === 'port.deleted' && e.body.data.id === p.id), { timeoutMs: 15000 });
    const of = (id: string) => events.filter((e) => e.body.data.id === id).map((e) => e.key);
    expect(of(p.id)).toEqual(expect.arrayContaining(['port.created', 'port.deleted']));
    expect(of(r.id)).toEqual(expect.arrayContaining(['router.created', 'router.updated']));
    expect(of(f.id)).toEqual(['floatingip.created', 'floatingip.deleted']);
    expect(of(g.id)).toEqual(['security_group.created']);
    const created = events.find((e) => e.key === 'port.created' && e.body.data.id === p.id)!;
    expect(created.body.data).toMatchObject({ projectId: env.a.id, resource: { id: p.id, network_id: n.id, mac_address: p.mac_address, fixed_ips: p.fixed_ips, 'binding:host_id': '' } });
    const fip = events.find((e) => e.key === 'floatingip.created')!;
    expect(fip.body.data.resource).toMatchObject({ port_id: p.id, router_id: r.id, floating_ip_address: f.floating_ip_address });
  });
});
