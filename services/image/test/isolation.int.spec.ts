import { client, type ImageEnv, type Project, type Res, startImageEnv } from './helpers.js';

/**
 * Every API, called by another project: an image it cannot see is a 404 on every route (its
 * existence is not disclosed); an image it can see but does not own (public) is a 403 on every
 * write. Metadefs: another project's private namespace is a 404, writes need admin.
 */
let env: ImageEnv;
let c: ReturnType<typeof client>;
let priv: string;
let pub: string;

beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
  priv = (await c.create(env.a, { name: 'a-private', visibility: 'private' })).id;
  await c.upload(env.a, priv, Buffer.from('private data'));
  pub = (await c.r('POST', '/v2/images', env.admin, { json: { name: 'admin-public', visibility: 'public', disk_format: 'raw', container_format: 'bare' } })).json.id;
  await c.upload(env.admin, pub, Buffer.from('public data'));
}, 60000);
afterAll(() => env?.close());

type Call = [string, (who: Project, id: string) => Promise<Res>];
const octet = { contentType: 'application/octet-stream' };
const calls: Call[] = [
  ['show', (w, id) => c.show(w, id)],
  ['patch', (w, id) => c.patch(w, id, [{ op: 'replace', path: '/name', value: 'x' }])],
  ['delete', (w, id) => c.del(w, id)],
  ['upload', (w, id) => c.upload(w, id, Buffer.from('x'))],
  ['download', (w, id) => c.download(w, id)],
  ['stage', (w, id) => c.r('PUT', `/v2/images/${id}/stage`, w, { body: Buffer.from('x'), ...octet })],
  ['import', (w, id) => c.r('POST', `/v2/images/${id}/import`, w, { json: { method: { name: 'glance-direct' } } })],
  ['tasks', (w, id) => c.r('GET', `/v2/images/${id}/tasks`, w)],
  ['add tag', (w, id) => c.r('PUT', `/v2/images/${id}/tags/t`, w)],
  ['delete tag', (w, id) => c.r('DELETE', `/v2/images/${id}/tags/t`, w)],
  ['deactivate', (w, id) => c.r('POST', `/v2/images/${id}/actions/deactivate`, w)],
  ['reactivate', (w, id) => c.r('POST', `/v2/images/${id}/actions/reactivate`, w)],
  ['list members', (w, id) => c.r('GET', `/v2/images/${id}/members`, w)],
  ['add member', (w, id) => c.r('POST', `/v2/images/${id}/members`, w, { json: { member: w.id } })],
  ['show member', (w, id) => c.r('GET', `/v2/images/${id}/members/${w.id}`, w)],
  ['update member', (w, id) => c.r('PUT', `/v2/images/${id}/members/${w.id}`, w, { json: { status: 'accepted' } })],
  ['delete member', (w, id) => c.r('DELETE', `/v2/images/${id}/members/${w.id}`, w)],
];

describe("another project's private image", () => {
  it.each(calls.map(([name, fn]) => [name, fn] as const))('%s → 404', async (_name, fn) => {
    const res = await fn(env.b, priv);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ code: '404 Not Found' });
  });

  it('is not listed, whatever the filters', async () => {
    for (const q of ['', '?visibility=private', '?visibility=all', `?owner=${env.a.id}`, `?id=${priv}`, '?member_status=all&visibility=shared']) {
      const ids = (await c.list(env.b, q)).json.images.map((i: { id: string }) => i.id);
      expect([q, ids.includes(priv)]).toEqual([q, false]);
    }
  });

  it('is untouched afterwards', async () => {
    const img = (await c.show(env.a, priv)).json;
    expect(img).toMatchObject({ name: 'a-private', status: 'active', tags: [] });
    expect((await c.download(env.a, priv)).body.toString()).toBe('private data');
  });
});

describe("another project's public image", () => {
  const writes = calls.filter(([n]) => ['patch', 'delete', 'upload', 'stage', 'import', 'add tag', 'delete tag', 'deactivate', 'reactivate'].includes(n));
  it.each(writes.map(([name, fn]) => [name, fn] as const))('%s → 403', async (_name, fn) => {
    const res = await fn(env.b, pub);
    expect(res.status).toBe(403);
    expect(res.json).toMatchObject({ code: '403 Forbidden' });
  });

  it('members of a non-shared image → 403', async () => {
    expect((await c.r('GET', `/v2/images/${pub}/members`, env.b)).status).toBe(403);
    expect((await c.r('POST', `/v2/images/${pub}/members`, env.b, { json: { member: env.b.id } })).status).toBe(403);
  });

  it('reads are allowed, and the image is untouched', async () => {
    expect((await c.show(env.b, pub)).status).toBe(200);
    expect((await c.download(env.b, pub)).body.toString()).toBe('public data');
    expect((await c.show(env.admin, pub)).json).toMatchObject({ name: 'admin-public', status: 'active' });
  });
});

describe('usage and metadefs', () => {
  it('usage is per project', async () => {
    const a = (await c.r('GET', '/v2/info/usage', env.a)).json.usage.image_count_total.usage;
    const b = (await c.r('GET', '/v2/info/usage', env.b)).json.usage.image_count_total.usage;
    expect(a).toBeGreaterThan(0);
    expect(b).toBe(0);
  });

  it("another project's private namespace is a 404; metadef writes need admin", async () => {
    const ns = `iso-${Date.now()}`;
    expect((await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: ns, visibility: 'private' } })).status).toBe(201);
    const pubNs = `${ns}-pub`;
    expect((await c.r('POST', '/v2/metadefs/namespaces', env.admin, { json: { namespace: pubNs, visibility: 'public' } })).status).toBe(201);
    expect((await c.r('GET', `/v2/metadefs/namespaces/${ns}`, env.b)).status).toBe(404);
    expect((await c.r('GET', `/v2/metadefs/namespaces/${ns}/objects`, env.b)).status).toBe(404);
    expect((await c.r('GET', '/v2/metadefs/namespaces', env.b)).json.namespaces.map((n: { namespace: string }) => n.namespace)).not.toContain(ns);
    expect((await c.r('GET', `/v2/metadefs/namespaces/${pubNs}`, env.b)).status).toBe(200);
    expect((await c.r('POST', '/v2/metadefs/namespaces', env.b, { json: { namespace: `${ns}-b` } })).status).toBe(403);
    expect((await c.r('PUT', `/v2/metadefs/namespaces/${pubNs}`, env.b, { json: { namespace: pubNs, visibility: 'private' } })).status).toBe(403);
    expect((await c.r('DELETE', `/v2/metadefs/namespaces/${pubNs}`, env.b)).status).toBe(403);
    expect((await c.r('POST', `/v2/metadefs/namespaces/${pubNs}/objects`, env.b, { json: { name: 'o' } })).status).toBe(403);
    expect((await c.r('POST', `/v2/metadefs/namespaces/${pubNs}/tags/t`, env.b)).status).toBe(403);
  });
});
