import { Db } from '../src/db/db.js';
import { PortsRefresher } from '../src/conductor/ports-refresher.js';
import type { PortRecord } from '../src/servers/instance.model.js';
import { client, type ComputeEnv, type Project, request, startComputeWithNetwork } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// The real network service, in-process on its own database but on compute's vhost: compute's
// conductor and os-interface call its RPCs (allocate_for_server, unbind_port, list_server_ports).
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithNetwork>>;

beforeAll(async () => {
  stack = await startComputeWithNetwork({ hosts: ['if-1'] });
  env = stack.env;
  c = client(env);
}, 120000);
afterAll(async () => {
  await stack?.close();
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const neutron = (who: Project, method: string, url: string, json?: unknown) => request(stack.network.url, method, url, { token: who.token, json });
const network = async (who: Project, name: string, cidr: string) => {
  const n = await neutron(who, 'POST', '/v2.0/networks', { network: { name } });
  expect(n.status).toBe(201);
  const s = await neutron(who, 'POST', '/v2.0/subnets', { subnet: { network_id: n.json.network.id, cidr, ip_version: 4, name: `${name}-subnet` } });
  expect(s.status).toBe(201);
  return n.json.network.id as string;
};
const nicsOf = async (id: string) => (await env.drivers.get('if-1')!.getInfo(id)).spec.nics.map((n) => n.mac);

describe('os-interface with the real network service', () => {
  it('2.37 networks "auto" (and an empty list, what the CLI sends below 2.37): the project\'s one network; none to use ends the build in ERROR (Nova: 400, see docs)', async () => {
    const at37 = { headers: { 'OpenStack-API-Version': 'compute 2.37' } };
    const boot = (name: string) => c.r('POST', '/servers', env.b, { ...at37, json: { server: { name, imageRef: env.image.publicId, flavorRef: '1', networks: 'auto' } } });
    const lonely = await boot('auto-none');
    expect(lonely.status).toBe(202);
    const failed = await c.waitStatus(env.b, lonely.json.server.id, 'ERROR');
    expect(failed.fault.message).toMatch(/no network/);
    await network(env.b, 'only', '10.77.0.0/24');
    const ok = await boot('auto-one');
    expect(ok.status).toBe(202);
    const s = await c.waitStatus(env.b, ok.json.server.id, 'ACTIVE');
    expect(Object.keys(s.addresses)).toEqual(['only']);
    // What the CLI sends without --nic below 2.37: an empty list, i.e. the project's network (Nova's "unspecified").
    const empty = await c.r('POST', '/servers', env.b, { json: { server: { name: 'empty-list', imageRef: env.image.publicId, flavorRef: '1', networks: [] } } });
    expect(empty.status).toBe(202);
    expect(Object.keys((await c.waitStatus(env.b, empty.json.server.id, 'ACTIVE')).addresses)).toEqual(['only']);
    for (const id of [lonely.json.server.id, ok.json.server.id, empty.json.server.id]) expect((await c.r('DELETE', `/servers/${id}`, env.b)).status).toBe(204);
  });

  it('attaches a NIC on another network, lists/shows it, updates addresses, detaches and deletes the port', async () => {
    const first = await network(env.a, 'front', '10.10.0.0/24');
    const second = await network(env.a, 'back', '10.20.0.0/24');
    const s = await c.bootActive(env.a, { name: 'multi', networks: [{ uuid: first }] });
    expect(Object.keys(s.addresses)).toEqual(['front']);

    const list0 = await c.r('GET', `/servers/${s.id}/os-interface`, env.a);
    expectSchema('interfaces.list_interfaces', list0);
    expect(list0.json.interfaceAttachments).toHaveLength(1);

    const attached = await c.r('POST', `/servers/${s.id}/os-interface`, env.a, { json: { interfaceAttachment: { net_id: second, fixed_ips: [{ ip_address: '10.20.0.50' }] } } });
    expectSchema('interfaces.get_create_interfaces', attached);
    const a = attached.json.interfaceAttachment;
    expect(a).toMatchObject({ net_id: second, fixed_ips: [{ ip_address: '10.20.0.50' }] });
    // The NIC is in the running domain, with the port's MAC.
    expect(await nicsOf(s.id)).toEqual(expect.arrayContaining([a.mac_addr]));
    expect(await nicsOf(s.id)).toHaveLength(2);
    const shown = await c.r('GET', `/servers/${s.id}/os-interface/${a.port_id}`, env.a);
    expectSchema('interfaces.get_create_interfaces', shown);
    expect(shown.json.interfaceAttachment.port_id).toBe(a.port_id);
    const server = (await c.show(env.a, s.id)).json.server;
    expect(server.addresses.back).toEqual([{ version: 4, addr: '10.20.0.50', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': a.mac_addr }]);
    expect(server.status).toBe('ACTIVE');
    // The port belongs to the server in the network service.
    expect((await neutron(env.a, 'GET', `/v2.0/ports/${a.port_id}`)).json.port.device_id).toBe(s.id);
    const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a)).json.instanceActions;
    expect(actions[0]).toMatchObject({ action: 'attach_interface' });

    expect((await c.r('DELETE', `/servers/${s.id}/os-interface/${a.port_id}`, env.a)).status).toBe(202);
    expect(await nicsOf(s.id)).toHaveLength(1);
    expect((await c.r('GET', `/servers/${s.id}/os-interface`, env.a)).json.interfaceAttachments).toHaveLength(1);
    expect((await c.show(env.a, s.id)).json.server.addresses.back).toBeUndefined();
    // A port compute created for the attach is deleted with the detach (Nova's behaviour).
    expect((await neutron(env.a, 'GET', `/v2.0/ports/${a.port_id}`)).status).toBe(404);
    expect((await c.r('GET', `/servers/${s.id}/os-interface/${a.port_id}`, env.a)).status).toBe(404);
    expect((await c.r('DELETE', `/servers/${s.id}/os-interface/${a.port_id}`, env.a)).status).toBe(404);
  });

  it("attaches the user's own port and only unbinds it on detach; works on a stopped server", async () => {
    const n = await network(env.a, 'own', '10.30.0.0/24');
    const s = await c.bootActive(env.a, { name: 'byport', networks: 'none' });
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const port = (await neutron(env.a, 'POST', '/v2.0/ports', { port: { network_id: n, name: 'mine' } })).json.port;
    const attached = await c.r('POST', `/servers/${s.id}/os-interface`, env.a, { json: { interfaceAttachment: { port_id: port.id } } });
    expectSchema('interfaces.get_create_interfaces', attached);
    expect(await nicsOf(s.id)).toEqual([port.mac_address]);
    expect((await c.r('POST', `/servers/${s.id}/os-interface`, env.a, { json: { interfaceAttachment: { port_id: port.id } } })).status).toBe(409);
    // The stopped server starts with the NIC (it is in the domain's definition).
    expect((await c.action(env.a, s.id, { 'os-start': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(await nicsOf(s.id)).toEqual([port.mac_address]);
    expect((await c.r('DELETE', `/servers/${s.id}/os-interface/${port.id}`, env.a)).status).toBe(202);
    const kept = await neutron(env.a, 'GET', `/v2.0/ports/${port.id}`);
    expect(kept.status).toBe(200);
    expect(kept.json.port.device_id).toBe('');
  });

  it('refuses bad input (400), unknown ids (404), readers (403), other projects (404) and wrong states (409)', async () => {
    const n = await network(env.a, 'checks', '10.40.0.0/24');
    const s = await c.bootActive(env.a, { name: 'checks', networks: 'none' });
    const post = (who: Project, body: unknown) => c.r('POST', `/servers/${s.id}/os-interface`, who, { json: body });
    const both = await post(env.a, { interfaceAttachment: { net_id: n, port_id: n } });
    expect(both.status).toBe(400);
    expect(both.json.badRequest.message).toBe('Must not input both network_id and port_id');
    expect((await post(env.a, { interfaceAttachment: { net_id: 'nope' } })).status).toBe(400);
    expect((await post(env.a, { interfaceAttachment: { net_id: n, fixed_ips: [{ ip_address: '10.40.0.9' }, { ip_address: '10.40.0.10' }] } })).status).toBe(400);
    const unknownPort = await post(env.a, { interfaceAttachment: { port_id: '00000000-0000-4000-8000-000000000001' } });
    expect(unknownPort.status).toBe(404);
    expect(unknownPort.json.itemNotFound).toBeDefined();
    expect((await post(env.readerA, { interfaceAttachment: { net_id: n } })).status).toBe(403);
    expect((await post(env.b, { interfaceAttachment: { net_id: n } })).status).toBe(404);
    expect((await c.r('GET', `/servers/${s.id}/os-interface`, env.b)).status).toBe(404);
    expect((await c.action(env.a, s.id, { suspend: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SUSPENDED');
    const suspended = await post(env.a, { interfaceAttachment: { net_id: n } });
    expect(suspended.status).toBe(409);
    expect(suspended.json.conflictingRequest.message).toMatch(/vm_state suspended/);
    // A failed attach leaves no task behind and no port in the network service.
    expect((await c.show(env.a, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
    const ports = await neutron(env.a, 'GET', `/v2.0/ports?device_id=${s.id}`);
    expect(ports.json.ports).toEqual([]);
  });
});

describe('2.49: tagged interface attach', () => {
  it('takes a device tag from 2.49 (400 below, bad tags 400), keeps it with the port through a refresh from the network, shows it nowhere below 2.70', async () => {
    const net = await network(env.a, 'tagged', '10.49.0.0/24');
    const s = await c.bootActive(env.a, { name: 'tag49', networks: 'none' });
    const at = (minor: number) => ({ headers: { 'OpenStack-API-Version': `compute 2.${minor}` } });
    const attach = (tag: unknown, minor: number, who: Project = env.a) => c.r('POST', `/servers/${s.id}/os-interface`, who, { ...at(minor), json: { interfaceAttachment: { net_id: net, tag } } });
    const below = await attach('nic1', 48);
    expect(below.status).toBe(400);
    expect(below.json.badRequest.message).toMatch(/'tag' was unexpected/);
    for (const bad of ['a,b', 'x'.repeat(61), 3]) expect((await attach(bad, 49)).status).toBe(400);
    expect((await attach('nic1', 49, env.b)).status).toBe(404);

    const res = await attach('nic1', 49);
    expect(res.status).toBe(200);
    expectSchema('interfaces.get_create_interfaces', res);
    expect(res.json.interfaceAttachment.tag).toBeUndefined();
    const portId = res.json.interfaceAttachment.port_id as string;
    const db = env.svc.app.get(Db);
    const portsOf = async () => (await db.rows<{ ports: PortRecord[] }>(`SELECT ports FROM ${db.t('instance')} WHERE id = $1`, [s.id]))[0]!.ports;
    expect((await portsOf()).find((p) => p.id === portId)?.tag).toBe('nic1');
    // A stale record makes the refresher rewrite the ports from the network service: the tag stays.
    const stale = (await portsOf()).map((p) => (p.id === portId ? { ...p, mtu: 1234 } : p));
    await db.exec(`UPDATE ${db.t('instance')} SET ports = $2 WHERE id = $1`, [s.id, JSON.stringify(stale)]);
    expect(await env.svc.app.get(PortsRefresher).refresh(s.id)).toBe('updated');
    const fresh = (await portsOf()).find((p) => p.id === portId)!;
    expect(fresh.mtu).not.toBe(1234);
    expect(fresh.tag).toBe('nic1');
    expectSchema('interfaces.list_interfaces', await c.r('GET', `/servers/${s.id}/os-interface`, env.a, at(49)));
  });
});
