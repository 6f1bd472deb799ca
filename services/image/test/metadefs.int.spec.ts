import { client, type ImageEnv, startImageEnv } from './helpers.js';

/** The metadata definitions catalogue, following the flows of Tempest's metadefs tests. */
let env: ImageEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
}, 60000);
afterAll(() => env?.close());

const ns = () => `tempest-ns-${Math.random().toString(16).slice(2, 10)}`;

it('lists preloaded resource types', async () => {
  const res = await c.r('GET', '/v2/metadefs/resource_types', env.a);
  expect(res.status).toBe(200);
  expect(res.json.resource_types.map((r: { name: string }) => r.name)).toEqual(expect.arrayContaining(['OS::Glance::Image', 'OS::Nova::Flavor']));
});

it('creates, lists, shows, protects, updates and deletes a namespace', async () => {
  const name = ns();
  const created = await c.r('POST', '/v2/metadefs/namespaces', env.admin, {
    json: { namespace: name, visibility: 'public', description: 'Tempest', display_name: name, resource_type_associations: [{ name: 'OS::Glance::Image' }], protected: true },
  });
  expect(created.status).toBe(201);
  expect(created.json).toMatchObject({ namespace: name, visibility: 'public', protected: true, display_name: name, schema: '/v2/schemas/metadefs/namespace' });
  expect((await c.r('GET', '/v2/metadefs/namespaces', env.a)).json.namespaces.map((n: { namespace: string }) => n.namespace)).toContain(name);
  const shown = (await c.r('GET', `/v2/metadefs/namespaces/${name}`, env.a)).json;
  expect(shown).toMatchObject({ namespace: name, visibility: 'public', resource_type_associations: [{ name: 'OS::Glance::Image' }] });
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}`, env.admin)).status).toBe(403);
  const updated = await c.r('PUT', `/v2/metadefs/namespaces/${name}`, env.admin, { json: { namespace: name, description: 'Tempest', visibility: 'private', display_name: name, protected: false } });
  expect(updated.status).toBe(200);
  expect(updated.json).toMatchObject({ visibility: 'private', protected: false });
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}`, env.admin)).status).toBe(204);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}`, env.admin)).status).toBe(404);
  expect((await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: {} })).status).toBe(400);
});

it('manages objects', async () => {
  const name = ns();
  await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: name } });
  const obj = await c.r('POST', `/v2/metadefs/namespaces/${name}/objects`, env.admin, { json: { name: 'obj1' } });
  expect(obj.status).toBe(201);
  expect(obj.json).toMatchObject({ name: 'obj1', properties: {} });
  expect((await c.r('POST', `/v2/metadefs/namespaces/${name}/objects`, env.admin, { json: { name: 'obj1' } })).status).toBe(409);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/objects/obj1`, env.admin)).json.name).toBe('obj1');
  const upd = await c.r('PUT', `/v2/metadefs/namespaces/${name}/objects/obj1`, env.admin, { json: { name: 'obj2' } });
  expect(upd.status).toBe(200);
  expect(upd.json.name).toBe('obj2');
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}/objects/obj2`, env.admin)).status).toBe(204);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/objects`, env.admin)).json.objects).toEqual([]);
});

it('manages properties (listed as a map by name)', async () => {
  const name = ns();
  await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: name } });
  expect((await c.r('POST', `/v2/metadefs/namespaces/${name}/resource_types`, env.admin, { json: { name: 'OS::Nova::Flavor' } })).json.name).toBe('OS::Nova::Flavor');
  const enumv = ['xen', 'qemu', 'kvm'];
  const prop = await c.r('POST', `/v2/metadefs/namespaces/${name}/properties`, env.admin, { json: { name: 'OS::Nova::Flavor', title: 't1', type: 'string', enum: enumv } });
  expect(prop.status).toBe(201);
  expect(prop.json).toEqual({ name: 'OS::Nova::Flavor', title: 't1', type: 'string', enum: enumv });
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/properties/OS::Nova::Flavor`, env.admin)).json.name).toBe('OS::Nova::Flavor');
  const upd = await c.r('PUT', `/v2/metadefs/namespaces/${name}/properties/OS::Nova::Flavor`, env.admin, { json: { name: 'OS::Nova::Flavor', title: 't2', type: 'string', enum: enumv } });
  expect(upd.json.title).toBe('t2');
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/properties`, env.admin)).json.properties).toHaveProperty(['OS::Nova::Flavor', 'title'], 't2');
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}/properties/OS::Nova::Flavor`, env.admin)).status).toBe(204);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/properties`, env.admin)).json.properties).toEqual({});
  expect((await c.r('POST', `/v2/metadefs/namespaces/${name}/properties`, env.admin, { json: { name: 'p' } })).status).toBe(400);
});

it('manages tags, in bulk and one by one', async () => {
  const name = ns();
  await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: name } });
  const bulk = await c.r('POST', `/v2/metadefs/namespaces/${name}/tags`, env.admin, { json: { tags: [{ name: 'sample-tag1' }, { name: 'sample-tag2' }, { name: 'sample-tag3' }] } });
  expect(bulk.status).toBe(201);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/tags`, env.admin)).json.tags).toHaveLength(3);
  expect((await c.r('POST', `/v2/metadefs/namespaces/${name}/tags/extra`, env.admin)).status).toBe(201);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/tags/extra`, env.admin)).json.name).toBe('extra');
  expect((await c.r('PUT', `/v2/metadefs/namespaces/${name}/tags/extra`, env.admin, { json: { name: 'renamed' } })).json.name).toBe('renamed');
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}/tags/renamed`, env.admin)).status).toBe(204);
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}/tags`, env.admin)).status).toBe(204);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/tags`, env.admin)).json.tags).toEqual([]);
});

it('associates and dissociates resource types', async () => {
  const name = ns();
  await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: name } });
  expect((await c.r('POST', `/v2/metadefs/namespaces/${name}/resource_types`, env.admin, { json: { name: 'OS::Glance::Image', prefix: 'hw_' } })).status).toBe(201);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/resource_types`, env.admin)).json.resource_type_associations).toMatchObject([{ name: 'OS::Glance::Image', prefix: 'hw_' }]);
  expect((await c.r('DELETE', `/v2/metadefs/namespaces/${name}/resource_types/OS::Glance::Image`, env.admin)).status).toBe(204);
  expect((await c.r('GET', `/v2/metadefs/namespaces/${name}/resource_types`, env.admin)).json.resource_type_associations).toEqual([]);
});
