import { client, externalNetwork, type NetEnv, startNetEnv } from './helpers.js';

/** Every resource of project A is invisible (404) or untouchable (403) for project B, and absent from its lists. */
let env: NetEnv;
let c: ReturnType<typeof client>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  env = await startNetEnv();
  c = client(env);
  const ext = await externalNetwork(env);
  const net = await c.network(env.a);
  ids.networks = net.id;
  ids.subnets = (await c.subnet(env.a, net.id, '10.40.0.0/24')).id;
  const port = await c.port(env.a, net.id);
  ids.ports = port.id;
  const router = await c.router(env.a, { external_gateway_info: { network_id: ext.net.id } });
  ids.routers = router.id;
  await c.put(env.a, `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: ids.subnets });
  ids.floatingips = (await c.post(env.a, '/v2.0/floatingips', { floatingip: { floating_network_id: ext.net.id, port_id: port.id } })).json.floatingip.id;
  const sg = (await c.post(env.a, '/v2.0/security-groups', { security_group: { name: 'private' } })).json.security_group;
  ids['security-groups'] = sg.id;
  ids['security-group-rules'] = sg.security_group_rules[0].id;
});
afterAll(() => env?.close());

const singular: Record<string, string> = {
  networks: 'network',
  subnets: 'subnet',
  ports: 'port',
  routers: 'router',
  floatingips: 'floatingip',
  'security-groups': 'security_group',
  'security-group-rules': 'security_group_rule',
};

describe.each(Object.keys(singular))('%s of another project', (path) => {
  it('is 404 on show, update and delete, and missing from lists', async () => {
    const id = ids[path]!;
    const show = await c.get(env.b, `/v2.0/${path}/${id}`);
    expect(show.status).toBe(404);
    expect(show.json.NeutronError.type).toMatch(/NotFound$/);
    if (path !== 'security-group-rules') expect((await c.put(env.b, `/v2.0/${path}/${id}`, { [singular[path]!]: { description: 'stolen' } })).status).toBe(404);
    expect((await c.del(env.b, `/v2.0/${path}/${id}`)).status).toBe(404);
    const list = (await c.get(env.b, `/v2.0/${path}`)).json;
    expect(JSON.stringify(list)).not.toContain(id);
    // the owner still has it, unchanged
    const mine = await c.get(env.a, `/v2.0/${path}/${id}`);
    expect(mine.status).toBe(200);
    expect(JSON.stringify(mine.json)).not.toContain('stolen');
    // and an admin sees it
    expect((await c.get(env.admin, `/v2.0/${path}/${id}`)).status).toBe(200);
  });
});

describe('cross-project use', () => {
  it('refuses ports, subnets, interfaces and floating IP associations on resources of another project', async () => {
    expect((await c.post(env.b, '/v2.0/ports', { port: { network_id: ids.networks } })).status).toBe(404);
    expect((await c.post(env.b, '/v2.0/subnets', { subnet: { network_id: ids.networks, cidr: '10.41.0.0/24', ip_version: 4 } })).status).toBe(404);
    const r = await c.router(env.b);
    expect((await c.put(env.b, `/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: ids.subnets })).status).toBe(404);
    expect((await c.put(env.b, `/v2.0/routers/${ids.routers}/add_router_interface`, { subnet_id: ids.subnets })).status).toBe(404);
    const bnet = await c.network(env.b);
    await c.subnet(env.b, bnet.id, '10.42.0.0/24');
    expect((await c.post(env.b, '/v2.0/ports', { port: { network_id: bnet.id, security_groups: [ids['security-groups']] } })).status).toBe(404);
    expect((await c.post(env.b, '/v2.0/security-group-rules', { security_group_rule: { security_group_id: ids['security-groups'], direction: 'ingress' } })).status).toBe(404);
    expect((await c.get(env.b, `/v2.0/quotas/${env.a.id}/details`)).status).toBe(403);
    expect((await c.get(env.b, `/v2.0/networks/${ids.networks}/tags`)).status).toBe(404);
    expect((await c.put(env.b, `/v2.0/ports/${ids.ports}/tags/x`, undefined)).status).toBe(404);
  });
});
