import { client, type ImageEnv, PATCH_20, request, startImageEnv } from './helpers.js';

let env: ImageEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
}, 60000);
afterAll(() => env?.close());

describe('version discovery and schemas', () => {
  it('answers GET / without a token (300, v2 entries with self links)', async () => {
    const res = await request(env.url, 'GET', '/');
    expect(res.status).toBe(300);
    expect(res.json.versions[0]).toMatchObject({ id: 'v2.16', status: 'CURRENT' });
    expect(res.json.versions[0].links[0].href).toBe(`${env.url}/v2/`);
  });

  it('serves the schemas the CLI and Tempest read', async () => {
    for (const [path, name] of [
      ['image', 'image'],
      ['images', 'images'],
      ['member', 'member'],
      ['members', 'members'],
      ['metadefs/namespace', 'namespace'],
      ['metadefs/resource_type', 'resource_type_association'],
      ['metadefs/tags', 'tags'],
    ]) {
      const res = await c.r('GET', `/v2/schemas/${path}`, env.a);
      expect(res.status).toBe(200);
      expect(res.json.name).toBe(name);
    }
    expect((await c.r('GET', '/v2/schemas/nope', env.a)).status).toBe(404);
    expect((await request(env.url, 'GET', '/v2/schemas/image')).status).toBe(401);
  });

  it('describes import methods, stores and usage', async () => {
    expect((await c.r('GET', '/v2/info/import', env.a)).json['import-methods'].value).toEqual(['glance-direct']);
    expect((await c.r('GET', '/v2/info/stores', env.a)).json.stores).toEqual([{ id: 'file', description: 'Local filesystem store', default: true }]);
    const usage = (await c.r('GET', '/v2/info/usage', env.a)).json.usage;
    expect(usage.image_count_total).toEqual({ limit: 1000, usage: expect.any(Number) });
  });
});

describe('create and show', () => {
  it('answers 201 with the unwrapped Glance image, properties as top-level keys, and a Location', async () => {
    const res = await c.r('POST', '/v2/images', env.a, {
      json: { name: 'cirros', disk_format: 'qcow2', container_format: 'bare', min_disk: 1, kernel_id: '00000000-1111-2222-3333-444455556666', hw_disk_bus: 'virtio', 'owner_specified.openstack.md5': '', tags: ['a', 'b', 'a'] },
    });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/v2/images/${res.json.id}`);
    expect(res.json).toMatchObject({
      name: 'cirros',
      status: 'queued',
      visibility: 'shared',
      protected: false,
      os_hidden: false,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      owner: env.a.id,
      size: null,
      virtual_size: null,
      min_ram: 0,
      min_disk: 1,
      disk_format: 'qcow2',
      container_format: 'bare',
      tags: ['a', 'b'],
      kernel_id: '00000000-1111-2222-3333-444455556666',
      hw_disk_bus: 'virtio',
      'owner_specified.openstack.md5': '',
      self: `/v2/images/${res.json.id}`,
      file: `/v2/images/${res.json.id}/file`,
      schema: '/v2/schemas/image',
    });
    expect(res.json.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(res.headers['x-openstack-request-id']).toMatch(/^req-/);
    const shown = await c.show(env.a, res.json.id);
    expect(shown.status).toBe(200);
    expect(shown.json).toEqual(res.json);
  });

  it('creates an image from an empty body, and with a chosen id (once)', async () => {
    const empty = await c.r('POST', '/v2/images', env.a);
    expect(empty.status).toBe(201);
    expect(empty.json.disk_format).toBeNull();
    const id = '3b0a3c5e-0000-4000-8000-000000000001';
    expect((await c.r('POST', '/v2/images', env.a, { json: { id } })).status).toBe(201);
    const again = await c.r('POST', '/v2/images', env.a, { json: { id } });
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ code: '409 Conflict', title: 'Conflict' });
  });

  it('answers 404 (Glance-shaped) for unknown, malformed and empty ids', async () => {
    for (const id of ['6f1b5c32-8c1d-4f43-9a7e-2a1e1f0a0b0c', 'not-a-uuid', 'cirros']) {
      const res = await c.show(env.a, id);
      expect(res.status).toBe(404);
      expect(res.json).toMatchObject({ code: '404 Not Found', title: 'Not Found' });
    }
    expect((await c.r('GET', '/v2/images/', env.a)).status).toBe(404);
    expect((await c.r('DELETE', '/v2/images/', env.a)).status).toBe(404);
  });

  it('refuses bad create bodies without creating anything', async () => {
    const before = (await c.list(env.a, '?limit=1000')).json.images.length;
    const cases: [unknown, number][] = [
      [{ disk_format: 'wrong' }, 400],
      [{ container_format: 'wrong' }, 400],
      [{ min_ram: -5 }, 400],
      [{ name: 7 }, 400],
      [{ visibility: 'everyone' }, 400],
      [{ protected: 'yes' }, 400],
      [{ hw_disk_bus: 5 }, 400],
      [{ id: 'nope' }, 400],
      [{ status: 'active' }, 403],
      [{ checksum: 'x' }, 403],
      [{ size: 5 }, 403],
      [{ os_glance_foo: 'bar' }, 403],
      [{ locations: [] }, 403],
      [{ visibility: 'public' }, 403],
      [{ owner: 'someone-else' }, 403],
      [[1, 2], 400],
    ];
    for (const [body, status] of cases) {
      const res = await c.r('POST', '/v2/images', env.a, { json: body });
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
      expect(res.json.message).toEqual(expect.any(String));
    }
    const bad = await c.r('POST', '/v2/images', env.a, { body: '{"name": ', contentType: 'application/json' });
    expect(bad.status).toBe(400);
    const text = await c.r('POST', '/v2/images', env.a, { body: 'name=x', contentType: 'text/plain' });
    expect(text.status).toBe(415);
    expect((await c.list(env.a, '?limit=1000')).json.images.length).toBe(before);
  });

  it('lets an admin create public images and images for another project', async () => {
    const pub = await c.r('POST', '/v2/images', env.admin, { json: { name: 'pub', visibility: 'public' } });
    expect(pub.status).toBe(201);
    const other = await c.r('POST', '/v2/images', env.admin, { json: { owner: 'f0e1d2c3b4a5', name: 'given' } });
    expect(other.status).toBe(201);
    expect(other.json.owner).toBe('f0e1d2c3b4a5');
  });

  it('refuses writes from a reader', async () => {
    expect((await c.r('POST', '/v2/images', env.readerA, { json: {} })).status).toBe(403);
    const img = await c.create(env.a);
    expect((await c.show(env.readerA, img.id)).status).toBe(200);
    expect((await c.patch(env.readerA, img.id, [{ op: 'replace', path: '/name', value: 'r' }])).status).toBe(403);
    expect((await c.del(env.readerA, img.id)).status).toBe(403);
  });
});

describe('PATCH', () => {
  it('applies the 2.1 dialect (SDK/OSC): add, replace and remove properties and attributes', async () => {
    const img = await c.create(env.a, { name: 'p' });
    const res = await c.patch(env.a, img.id, [
      { op: 'add', path: '/hw_vif_model', value: 'e1000' },
      { op: 'add', path: '/os_distro', value: 'cirros' },
      { op: 'replace', path: '/name', value: 'p2' },
      { op: 'add', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/tags', value: ['x'] },
      { op: 'add', path: '/a~1b', value: 'slash' },
    ]);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ name: 'p2', hw_vif_model: 'e1000', os_distro: 'cirros', min_ram: 512, tags: ['x'], 'a/b': 'slash' });
    const again = await c.patch(env.a, img.id, [
      { op: 'add', path: '/hw_vif_model', value: 'virtio' },
      { op: 'remove', path: '/os_distro' },
    ]);
    expect(again.json.hw_vif_model).toBe('virtio');
    expect(again.json).not.toHaveProperty('os_distro');
  });

  it('applies the 2.0 dialect (Tempest), whose add of an existing key is a conflict', async () => {
    const img = await c.create(env.a, { name: 'q', foo: 'bar' });
    const res = await c.patch(env.a, img.id, [{ replace: '/name', value: 'q2' }], PATCH_20);
    expect(res.status).toBe(200);
    expect(res.json.name).toBe('q2');
    expect((await c.patch(env.a, img.id, [{ add: '/foo', value: 'baz' }], PATCH_20)).status).toBe(409);
    expect((await c.patch(env.a, img.id, [{ add: '/new', value: 'v' }], PATCH_20)).json.new).toBe('v');
  });

  it('refuses what Glance refuses, atomically (nothing of a refused PATCH is applied)', async () => {
    const img = await c.create(env.a, { name: 'r', keep: 'me' });
    const cases: [unknown, number, string?][] = [
      [[{ op: 'replace', path: '/id', value: '6f1b5c32-8c1d-4f43-9a7e-2a1e1f0a0b0c' }], 403],
      [[{ op: 'replace', path: '/status', value: 'active' }], 403],
      [[{ op: 'add', path: '/checksum', value: 'abc' }], 403],
      [[{ op: 'add', path: '/os_hash_value', value: 'abc' }], 403],
      [[{ op: 'add', path: '/os_glance_x', value: 'abc' }], 403],
      [[{ op: 'remove', path: '/name' }], 403],
      [[{ op: 'replace', path: '/visibility', value: 'public' }], 403],
      [[{ op: 'replace', path: '/owner', value: 'thief' }], 403],
      [[{ op: 'replace', path: '/missing', value: 'x' }], 409],
      [[{ op: 'remove', path: '/missing' }], 409],
      [[{ op: 'replace', path: '/min_disk', value: 'big' }], 400],
      [[{ op: 'add', path: '/prop', value: 42 }], 400],
      [[{ op: 'add', path: '/kernel_id', value: 'not-a-uuid' }], 400],
      [[{ op: 'add', path: '/a/b', value: 'x' }], 400],
      [{ op: 'add' }, 400],
      [[{ op: 'add', path: '/name' }], 400],
    ];
    for (const [ops, status] of cases) {
      const res = await c.patch(env.a, img.id, [{ op: 'replace', path: '/name', value: 'changed' }, ...(Array.isArray(ops) ? ops : [ops])]);
      expect([JSON.stringify(ops), res.status]).toEqual([JSON.stringify(ops), status]);
    }
    const wrongType = await c.patch(env.a, img.id, [{ op: 'replace', path: '/name', value: 'x' }], 'application/json');
    expect(wrongType.status).toBe(415);
    expect(wrongType.headers['accept-patch']).toContain('application/openstack-images-v2.1-json-patch');
    const after = (await c.show(env.a, img.id)).json;
    expect(after.name).toBe('r');
    expect(after.keep).toBe('me');
    expect(after.status).toBe('queued');
  });

  it('allows disk_format changes only while queued', async () => {
    const img = await c.create(env.a);
    expect((await c.upload(env.a, img.id, Buffer.from('data'))).status).toBe(204);
    expect((await c.patch(env.a, img.id, [{ op: 'replace', path: '/disk_format', value: 'qcow2' }])).status).toBe(403);
    expect((await c.patch(env.a, img.id, [{ op: 'replace', path: '/name', value: 'fine' }])).status).toBe(200);
  });
});

describe('tags, protection, deactivation, deletion', () => {
  it('adds and removes tags (idempotent add, 404 on a missing tag)', async () => {
    const img = await c.create(env.a);
    expect((await c.r('PUT', `/v2/images/${img.id}/tags/t1`, env.a)).status).toBe(204);
    expect((await c.r('PUT', `/v2/images/${img.id}/tags/t1`, env.a)).status).toBe(204);
    expect((await c.show(env.a, img.id)).json.tags).toEqual(['t1']);
    expect((await c.r('DELETE', `/v2/images/${img.id}/tags/t1`, env.a)).status).toBe(204);
    expect((await c.r('DELETE', `/v2/images/${img.id}/tags/t1`, env.a)).status).toBe(404);
    expect((await c.r('PUT', `/v2/images/6f1b5c32-8c1d-4f43-9a7e-2a1e1f0a0b0c/tags/t1`, env.a)).status).toBe(404);
  });

  it('refuses to delete a protected image until it is unprotected', async () => {
    const img = await c.create(env.a, { protected: true });
    const res = await c.del(env.a, img.id);
    expect(res.status).toBe(403);
    expect(res.json.message).toContain('protected');
    expect((await c.patch(env.a, img.id, [{ op: 'replace', path: '/protected', value: false }])).status).toBe(200);
    expect((await c.del(env.a, img.id)).status).toBe(204);
  });

  it('deactivates (download forbidden, admin may) and reactivates', async () => {
    const img = await c.create(env.a);
    expect((await c.r('POST', `/v2/images/${img.id}/actions/deactivate`, env.a)).status).toBe(403);
    await c.upload(env.a, img.id, Buffer.from('hello'));
    expect((await c.r('POST', `/v2/images/${img.id}/actions/deactivate`, env.a)).status).toBe(204);
    expect((await c.show(env.a, img.id)).json.status).toBe('deactivated');
    expect((await c.download(env.a, img.id)).status).toBe(403);
    expect((await c.download(env.admin, img.id)).body.toString()).toBe('hello');
    expect((await c.r('POST', `/v2/images/${img.id}/actions/reactivate`, env.a)).status).toBe(204);
    expect((await c.show(env.a, img.id)).json.status).toBe('active');
    expect((await c.download(env.a, img.id)).body.toString()).toBe('hello');
  });

  it('deletes: 204, then 404 for GET/DELETE and gone from the list, data removed', async () => {
    const img = await c.create(env.a);
    await c.upload(env.a, img.id, Buffer.from('bytes'));
    expect((await c.del(env.a, img.id)).status).toBe(204);
    expect((await c.show(env.a, img.id)).status).toBe(404);
    expect((await c.del(env.a, img.id)).status).toBe(404);
    expect((await c.list(env.a, '?limit=1000')).json.images.map((i: { id: string }) => i.id)).not.toContain(img.id);
    expect((await c.download(env.a, img.id)).status).toBe(404);
  });
});

describe('list', () => {
  let ids: Record<string, string>;
  beforeAll(async () => {
    // One id for both: two Date.now() calls can straddle a millisecond and split owner from filter.
    const projectId = `listp${Date.now()}`;
    const p = { id: projectId, token: await env.identity.token({ projectId, roles: ['member', 'reader'] }) };
    env.c = p;
    ids = {};
    const spec: [string, Record<string, unknown>, string | null][] = [
      ['alpha', { disk_format: 'raw', tags: ['red', 'big'], hw_disk_bus: 'scsi' }, 'x'.repeat(100)],
      ['beta', { disk_format: 'qcow2', tags: ['red'] }, null],
      ['gamma', { disk_format: 'raw', tags: ['blue'], visibility: 'private' }, 'y'.repeat(300)],
      ['delta', { disk_format: 'iso', os_hidden: true }, null],
      ['epsilon', { disk_format: 'raw', visibility: 'community' }, 'z'.repeat(200)],
    ];
    for (const [name, body, data] of spec) {
      const img = await c.create(env.c, { name, container_format: 'bare', ...body });
      ids[name] = img.id;
      if (data) expect((await c.upload(env.c, img.id, Buffer.from(data))).status).toBe(204);
    }
  });

  // Only this project's images: public ones of other tests show up in every list (as in Glance).
  const mine = (query: string) => (query.includes('owner=') ? query : `${query}${query ? '&' : '?'}owner=${env.c.id}`);
  const names = async (query: string) => (await c.list(env.c, mine(query))).json.images.map((i: { name: string }) => i.name);

  it('lists own images newest first, hiding os_hidden ones unless asked', async () => {
    const res = await c.list(env.c);
    expect(res.status).toBe(200);
    expect(res.json.schema).toBe('/v2/schemas/images');
    expect(res.json.first).toBe('/v2/images');
    expect(res.json.images.map((i: { name: string }) => i.name)).toEqual(['epsilon', 'gamma', 'beta', 'alpha', 'pub']);
    expect(await names('')).toEqual(['epsilon', 'gamma', 'beta', 'alpha']);
    expect(await names('?os_hidden=true')).toEqual(['delta']);
  });

  it('filters by name, status, visibility, owner, tags, formats, sizes and properties', async () => {
    expect(await names('?name=beta')).toEqual(['beta']);
    expect(await names('?name=in:alpha,beta&sort=name:asc')).toEqual(['alpha', 'beta']);
    expect(await names('?status=active&sort=name:asc')).toEqual(['alpha', 'epsilon', 'gamma']);
    expect(await names('?status=queued')).toEqual(['beta']);
    expect(await names('?visibility=private')).toEqual(['gamma']);
    expect(await names('?visibility=community')).toEqual(['epsilon']);
    expect(await names(`?owner=${env.c.id}&sort=name:asc`)).toEqual(['alpha', 'beta', 'epsilon', 'gamma']);
    expect(await names('?tag=red&sort=name:asc')).toEqual(['alpha', 'beta']);
    expect(await names('?tag=red&tag=big')).toEqual(['alpha']);
    expect(await names('?disk_format=raw&sort=name:asc')).toEqual(['alpha', 'epsilon', 'gamma']);
    expect(await names('?container_format=bare&disk_format=qcow2')).toEqual(['beta']);
    expect(await names('?size_min=150&size_max=250')).toEqual(['epsilon']);
    expect(await names('?size=300')).toEqual(['gamma']);
    expect(await names('?hw_disk_bus=scsi')).toEqual(['alpha']);
    expect(await names('?name=nothing')).toEqual([]);
  });

  it('sorts by any Glance sort key, both syntaxes', async () => {
    expect(await names('?sort=size:desc&status=active')).toEqual(['gamma', 'epsilon', 'alpha']);
    expect(await names('?sort_key=size&sort_dir=asc&status=active')).toEqual(['alpha', 'epsilon', 'gamma']);
    expect(await names('?sort_key=name&sort_dir=desc')).toEqual(['gamma', 'epsilon', 'beta', 'alpha']);
    expect((await c.list(env.c, '?sort_key=nope')).status).toBe(400);
  });

  it('paginates with limit + marker and a next link that walks every page', async () => {
    const seen: string[] = [];
    let url: string | undefined = `/v2/images?limit=2&sort=name:asc&owner=${env.c.id}`;
    let pages = 0;
    while (url) {
      const res = await c.r('GET', url, env.c);
      expect(res.status).toBe(200);
      seen.push(...res.json.images.map((i: { name: string }) => i.name));
      url = res.json.next;
      if (url) expect(url).toContain('marker=');
      pages++;
    }
    expect(seen).toEqual(['alpha', 'beta', 'epsilon', 'gamma']);
    expect(pages).toBe(3);
    expect((await c.list(env.c, '?limit=1')).json.images).toHaveLength(1);
    expect((await c.list(env.c, '?limit=0')).json.images).toHaveLength(0);
    expect((await c.list(env.c, '?marker=6f1b5c32-8c1d-4f43-9a7e-2a1e1f0a0b0c')).status).toBe(400);
  });

  it('paginates by a nullable key (size) without losing or repeating images', async () => {
    const seen: string[] = [];
    let url: string | undefined = `/v2/images?limit=1&sort=size:asc&owner=${env.c.id}`;
    while (url) {
      const res = await c.r('GET', url, env.c);
      seen.push(...res.json.images.map((i: { name: string }) => i.name));
      url = res.json.next;
    }
    expect(seen.slice(-3)).toEqual(['alpha', 'epsilon', 'gamma']);
    expect(new Set(seen).size).toBe(4);
  });

  it('shows other projects only public images (and community ones when asked)', async () => {
    const other = (await c.list(env.b, '?limit=1000')).json.images.map((i: { id: string }) => i.id);
    for (const id of Object.values(ids)) expect(other).not.toContain(id);
    expect((await c.list(env.b, '?visibility=community')).json.images.map((i: { id: string }) => i.id)).toContain(ids.epsilon);
    expect((await c.show(env.b, ids.epsilon!)).status).toBe(200);
    expect((await c.show(env.b, ids.gamma!)).status).toBe(404);
  });

  it('shows an admin every project\'s images', async () => {
    const all = (await c.list(env.admin, `?owner=${env.c.id}&limit=1000`)).json.images.map((i: { id: string }) => i.id);
    expect(all).toEqual(expect.arrayContaining([ids.alpha, ids.beta, ids.gamma, ids.epsilon]));
  });
});
