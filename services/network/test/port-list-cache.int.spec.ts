import pg from 'pg';
import { startTestService, type TestService } from '@kumo/service-kit/testing';
import { networkService } from '../src/service.js';
import { client, externalNetwork, type NetEnv, type Project, request, startNetEnv } from './helpers.js';

/*
 * GET /v2.0/ports serves rendered ports from a per-process cache keyed by `render_gen`, which
 * database triggers bump on any change to a port, its fixed IPs or its groups. These tests change
 * ports through a SECOND service process (and behind both, in plain SQL) and assert the first one
 * never serves a stale body: its list must equal, port by port, what `GET /v2.0/ports/{id}` says.
 */
let env: NetEnv;
let other: TestService;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startNetEnv();
  other = await startTestService(networkService, { databaseUrl: env.db.url, amqpUrl: env.vhost.url, env: { KUMO_IDENTITY_URL: env.identity.url } });
  c = client(env);
});
afterAll(async () => {
  await other?.close();
  await env?.close();
});

const onOther = (method: string, url: string, who: Project, json?: unknown) => request(other.url, method, url, who.token, json);

/** The fast list (cached text), the generic list and every port's show must agree. */
async function consistentList(who: Project, query = '') {
  const fast = await c.get(who, `/v2.0/ports${query}`);
  expect(fast.status).toBe(200);
  expect(fast.json).toBeDefined();
  const generic = await c.get(who, `/v2.0/ports${query ? `${query}&` : '?'}sort_key=id&sort_dir=asc`);
  expect(generic.json.ports).toEqual(fast.json.ports);
  for (const p of fast.json.ports) {
    const shown = await c.get(who, `/v2.0/ports/${p.id}`);
    expect(shown.json.port).toEqual(p);
  }
  return fast.json.ports as Record<string, unknown>[];
}

describe('port list served from rendered text', () => {
  it('answers application/json in the same order and shape as the generic path', async () => {
    const net = await c.network(env.a);
    await c.subnet(env.a, net.id, '10.61.0.0/24');
    for (let i = 0; i < 5; i++) await c.port(env.a, net.id, { name: `p${i}` });
    const res = await c.get(env.a, `/v2.0/ports?network_id=${net.id}`);
    expect(res.status).toBe(200);
    const ids = (res.json.ports as { id: string }[]).map((p) => p.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toHaveLength(5);
    await consistentList(env.a, `?network_id=${net.id}`);
    // Unknown network ids and non-UUIDs: empty, as on the generic path.
    expect((await c.get(env.a, '/v2.0/ports?network_id=nope')).json).toEqual({ ports: [] });
    expect((await c.get(env.a, `/v2.0/ports?device_id=nobody`)).json).toEqual({ ports: [] });
    // As Neutron: a sort key needs its direction.
    const unsorted = await c.get(env.a, `/v2.0/ports?network_id=${net.id}&sort_key=id`);
    expect(unsorted.status).toBe(400);
    expect(unsorted.json.NeutronError).toMatchObject({ type: 'HTTPBadRequest', message: 'The number of sort_keys and sort_dirs must be same' });
  });

  it('never serves a stale port after changes made through another process', async () => {
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.62.0.0/24');
    const p = await c.port(env.a, net.id, { name: 'before' });
    const q = `?network_id=${net.id}`;
    await consistentList(env.a, q);
    await consistentList(env.admin, q);

    // The port row: name.
    expect((await onOther('PUT', `/v2.0/ports/${p.id}`, env.a, { port: { name: 'after' } })).status).toBe(200);
    expect((await consistentList(env.a, q))[0]).toMatchObject({ name: 'after' });

    // Its fixed IPs (ip_allocation rows only; the port row is untouched by this part).
    expect((await onOther('PUT', `/v2.0/ports/${p.id}`, env.a, { port: { fixed_ips: [{ subnet_id: s.id, ip_address: '10.62.0.99' }] } })).status).toBe(200);
    expect((await consistentList(env.a, q))[0]).toMatchObject({ fixed_ips: [{ subnet_id: s.id, ip_address: '10.62.0.99' }] });

    // Its security groups (port_security_group rows).
    const sg = (await onOther('POST', '/v2.0/security-groups', env.a, { security_group: { name: 'web' } })).json.security_group;
    expect((await onOther('PUT', `/v2.0/ports/${p.id}`, env.a, { port: { security_groups: [sg.id] } })).status).toBe(200);
    expect((await consistentList(env.a, q))[0]).toMatchObject({ security_groups: [sg.id] });

    // Admin-only binding attributes: each caller kind gets its own rendering.
    expect((await onOther('PUT', `/v2.0/ports/${p.id}`, env.admin, { port: { 'binding:host_id': 'node-7' } })).status).toBe(200);
    expect((await consistentList(env.admin, q))[0]).toMatchObject({ 'binding:host_id': 'node-7' });
    expect((await consistentList(env.a, q))[0]).not.toHaveProperty('binding:host_id');

    // A writer that is not the service at all (an operator's SQL, a future code path).
    const db = new pg.Client({ connectionString: env.db.url });
    await db.connect();
    try {
      await db.query(`UPDATE network.port SET status = 'ACTIVE' WHERE id = $1`, [p.id]);
      expect((await consistentList(env.a, q))[0]).toMatchObject({ status: 'ACTIVE' });
      await db.query(`DELETE FROM network.port_security_group WHERE port_id = $1`, [p.id]);
      expect((await consistentList(env.a, q))[0]).toMatchObject({ security_groups: [] });
    } finally {
      await db.end();
    }

    // Deleted elsewhere: gone here.
    expect((await onOther('DELETE', `/v2.0/ports/${p.id}`, env.a)).status).toBe(204);
    expect(await consistentList(env.a, q)).toEqual([]);
  });

  it('follows router interfaces and gateways added and removed through another process', async () => {
    const ext = await externalNetwork(env, '172.26.9.0/24');
    const net = await c.network(env.a);
    const s = await c.subnet(env.a, net.id, '10.63.0.0/24');
    const r = await c.router(env.a, { external_gateway_info: { network_id: ext.net.id } });
    await consistentList(env.a, `?device_id=${r.id}`);
    expect((await onOther('PUT', `/v2.0/routers/${r.id}/add_router_interface`, env.a, { subnet_id: s.id })).status).toBe(200);
    const withIf = await consistentList(env.a, `?device_id=${r.id}`);
    expect(withIf.map((p) => p.device_owner)).toContain('network:router_interface');
    expect((await onOther('PUT', `/v2.0/routers/${r.id}/remove_router_interface`, env.a, { subnet_id: s.id })).status).toBe(200);
    const after = await consistentList(env.a, `?device_id=${r.id}`);
    expect(after.map((p) => p.device_owner)).not.toContain('network:router_interface');
    await consistentList(env.admin, `?device_id=${r.id}`);
  });

  it('keeps another project out: its ports are neither listed nor rendered for it', async () => {
    const net = await c.network(env.a);
    await c.subnet(env.a, net.id, '10.64.0.0/24');
    const p = await c.port(env.a, net.id);
    expect((await c.get(env.a, `/v2.0/ports?network_id=${net.id}`)).json.ports.map((x: { id: string }) => x.id)).toEqual([p.id]);
    expect((await c.get(env.b, `/v2.0/ports?network_id=${net.id}`)).json).toEqual({ ports: [] });
    expect((await c.get(env.b, `/v2.0/ports?device_id=${p.device_id}`)).json.ports.map((x: { id: string }) => x.id)).not.toContain(p.id);
    expect((await c.get(env.b, '/v2.0/ports')).json.ports.map((x: { id: string }) => x.id)).not.toContain(p.id);
  });
});
