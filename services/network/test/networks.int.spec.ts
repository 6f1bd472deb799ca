import { client, externalNetwork, type NetEnv, startNetEnv } from './helpers.js';

let env: NetEnv;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startNetEnv();
  c = client(env);
});
afterAll(() => env?.close());

describe('networks', () => {
  it('creates, shows, lists, updates and deletes a network in Neutron shape', async () => {
    const created = await c.network(env.a, { name: 'private', description: 'd' });
    expect(created).toMatchObject({ name: 'private', description: 'd', admin_state_up: true, status: 'ACTIVE', subnets: [], shared: false, 'router:external': false, mtu: 1450, port_security_enabled: true, project_id: env.a.id, tenant_id: env.a.id, revision_number: 0, tags: [] });
    expect(created).not.toHaveProperty('provider:network_type');
    const shown = await c.get(env.a, `/v2.0/networks/${created.id}`);
    expect(shown.status).toBe(200);
    expect(shown.json.network.id).toBe(created.id);
    const byName = await c.get(env.a, '/v2.0/networks?name=private');
    expect(byName.json.networks.map((n: { id: string }) => n.id)).toEqual([created.id]);
    const fields = await c.get(env.a, `/v2.0/networks?fields=id&fields=name&id=${created.id}`);
    expect(fields.json.networks).toEqual([{ id: created.id, name: 'private' }]);
    const upd = await c.put(env.a, `/v2.0/networks/${created.id}`, { network: { name: 'renamed', mtu: 1400 } });
    expect(upd.status).toBe(200);
    expect(upd.json.network).toMatchObject({ name: 'renamed', mtu: 1400, revision_number: 1 });
    expect((await c.del(env.a, `/v2.0/networks/${created.id}`)).status).toBe(204);
    const gone = await c.get(env.a, `/v2.0/networks/${created.id}`);
    expect(gone.status).toBe(404);
    expect(gone.json.NeutronError).toMatchObject({ type: 'NetworkNotFound', message: expect.stringContaining(created.id) });
  });

  it('gives admins provider attributes with an allocated VNI, unique per network', async () => {
    const [x, y] = await Promise.all([c.network(env.admin), c.network(env.admin)]);
    expect(x['provider:network_type']).toBe('vxlan');
    expect(x['provider:segmentation_id']).toBeGreaterThanOrEqual(1000);
    expect(x['provider:segmentation_id']).not.toBe(y['provider:segmentation_id']);
    const vlan = await c.network(env.admin, { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 42 });
    expect(vlan).toMatchObject({ 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 42, mtu: 1500 });
    const dup = await c.post(env.admin, '/v2.0/networks', { network: { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 42 } });
    expect(dup.status).toBe(409);
    expect(dup.json.NeutronError.type).toBe('SegmentationIdInUse');
    const refused = await c.post(env.a, '/v2.0/networks', { network: { 'provider:network_type': 'vlan' } });
    expect(refused.status).toBe(403);
  });

  it('bulk-creates networks all or nothing', async () => {
    const res = await c.post(env.a, '/v2.0/networks', { networks: [{ name: 'bulk1' }, { name: 'bulk2' }] });
    expect(res.status).toBe(201);
    expect(res.json.networks.map((n: { name: string }) => n.name)).toEqual(['bulk1', 'bulk2']);
    const bad = await c.post(env.a, '/v2.0/networks', { networks: [{ name: 'bulk3' }, { name: 'bulk4', mtu: 'x' }] });
    expect(bad.status).toBe(400);
    const list = await c.get(env.a, '/v2.0/networks?name=bulk3');
    expect(list.json.networks).toEqual([]);
  });

  it('sorts and paginates with limit/marker and next links', async () => {
    for (const n of ['p-c', 'p-a', 'p-b']) await c.network(env.b, { name: n, tags: ['page'] });
    const first = await c.get(env.b, '/v2.0/networks?tags=page&sort_key=name&sort_dir=asc&limit=2');
    expect(first.json.networks.map((n: { name: string }) => n.name)).toEqual(['p-a', 'p-b']);
    const next = first.json.networks_links.find((l: { rel: string }) => l.rel === 'next').href as string;
    const second = await c.get(env.b, next.replace(/^https?:\/\/[^/]+/, ''));
    expect(second.json.networks.map((n: { name: string }) => n.name)).toEqual(['p-c']);
    const desc = await c.get(env.b, '/v2.0/networks?tags=page&sort_key=name&sort_dir=desc');
    expect(desc.json.networks.map((n: { name: string }) => n.name)).toEqual(['p-c', 'p-b', 'p-a']);
  });

  it('shows shared and external networks to every project; only admins make them', async () => {
    const shared = await c.network(env.admin, { name: 'shared', shared: true });
    const { net: ext } = await externalNetwork(env);
    const seen = (await c.get(env.b, '/v2.0/networks')).json.networks.map((n: { id: string }) => n.id);
    expect(seen).toEqual(expect.arrayContaining([shared.id, ext.id]));
    const external = await c.get(env.b, '/v2.0/networks?router:external=true');
    expect(external.json.networks.every((n: Record<string, unknown>) => n['router:external'] === true)).toBe(true);
    // subnets of an external network stay hidden (Tempest test_external_network_visibility)
    const subnets = (await c.get(env.b, '/v2.0/subnets')).json.subnets.map((s: { network_id: string }) => s.network_id);
    expect(subnets).not.toContain(ext.id);
    expect((await c.post(env.a, '/v2.0/networks', { network: { shared: true } })).status).toBe(403);
    expect((await c.put(env.b, `/v2.0/networks/${shared.id}`, { network: { name: 'mine' } })).status).toBe(403);
    expect((await c.del(env.b, `/v2.0/networks/${shared.id}`)).status).toBe(403);
  });

  it('refuses deleting a network with ports (409 NetworkInUse), leaving it intact', async () => {
    const net = await c.network(env.a);
    await c.subnet(env.a, net.id, '10.9.0.0/24');
    const port = await c.port(env.a, net.id);
    const res = await c.del(env.a, `/v2.0/networks/${net.id}`);
    expect(res.status).toBe(409);
    expect(res.json.NeutronError.type).toBe('NetworkInUse');
    expect((await c.get(env.a, `/v2.0/networks/${net.id}`)).json.network.subnets).toHaveLength(1);
    expect((await c.del(env.a, `/v2.0/ports/${port.id}`)).status).toBe(204);
    expect((await c.del(env.a, `/v2.0/networks/${net.id}`)).status).toBe(204);
  });

  it('lets readers look but not change', async () => {
    const net = await c.network(env.a);
    expect((await c.get(env.readerA, `/v2.0/networks/${net.id}`)).status).toBe(200);
    const res = await c.post(env.readerA, '/v2.0/networks', { network: { name: 'x' } });
    expect(res.status).toBe(403);
    expect(res.json.NeutronError.type).toBe('PolicyNotAuthorized');
  });

  it('manages tags through the tags sub-resource and filters by them', async () => {
    const net = await c.network(env.a);
    expect((await c.put(env.a, `/v2.0/networks/${net.id}/tags/red`, '{}')).status).toBe(201); // Tempest sends the JSON string "{}"
    expect((await c.put(env.a, `/v2.0/networks/${net.id}`, 'x')).json.NeutronError.type).toBe('HTTPBadRequest');
    expect((await c.put(env.a, `/v2.0/networks/${net.id}/tags`, { tags: ['blue', 'green'] })).json.tags).toEqual(['blue', 'green']);
    expect((await c.get(env.a, `/v2.0/networks/${net.id}/tags/blue`)).status).toBe(204);
    expect((await c.get(env.a, `/v2.0/networks/${net.id}/tags/red`)).status).toBe(404);
    expect((await c.get(env.a, '/v2.0/networks?tags-any=green,nope')).json.networks.map((n: { id: string }) => n.id)).toContain(net.id);
    expect((await c.get(env.a, '/v2.0/networks?not-tags=blue')).json.networks.map((n: { id: string }) => n.id)).not.toContain(net.id);
    expect((await c.put(env.b, `/v2.0/networks/${net.id}/tags/x`, undefined)).status).toBe(404);
  });
});
