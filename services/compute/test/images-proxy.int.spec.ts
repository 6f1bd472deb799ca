import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, type Project, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Nova's image proxy (/v2.1/images*, 2.1–2.35) and image-metadata proxy (2.1–2.38) against the REAL
// image service (services/image) in-process on its own database and vhost: compute reaches its
// REST API (KUMO_IMAGE_URL) with the caller's token, so the image service scopes what each caller
// sees. (Compute's own image RPCs keep going to the stand-in of startComputeEnv.)
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let glanceSvc: TestService;
let glanceDb: TestDatabase;
let glanceVhost: TestVhost;
const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-compute-image-proxy-'));

beforeAll(async () => {
  const imageModule = '../../image/src/service.js';
  const { imageService } = (await import(imageModule)) as { imageService: import('@kumo/service-kit').ServiceDefinition };
  env = await startComputeEnv({
    peers: async (identityUrl) => {
      [glanceDb, glanceVhost] = await Promise.all([createTestDatabase('kumo_image_test'), createTestVhost('kumo-image-test')]);
      glanceSvc = await startTestService(imageService, {
        databaseUrl: glanceDb.url,
        amqpUrl: glanceVhost.url,
        env: { KUMO_IDENTITY_URL: identityUrl, KUMO_IMAGE_STORE_DIR: storeDir, KUMO_IMAGE_URL: 'http://127.0.0.1:9' },
      });
      return { KUMO_IMAGE_URL: glanceSvc.url };
    },
  });
  c = client(env);
}, 120000);
afterAll(async () => {
  await env?.close();
  await glanceSvc?.close();
  await Promise.all([glanceDb?.drop(), glanceVhost?.delete()]);
  fs.rmSync(storeDir, { recursive: true, force: true });
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}` } });

async function glance(who: Project, method: string, url: string, json?: unknown) {
  const res = await request(glanceSvc.url, method, url, { token: who.token, json });
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.text}`);
  return res.json;
}

const SERVER = '0c3b7a6e-3f0c-4c38-9a51-2f1e4a8f6b11';

describe('Nova image proxy over the image service', () => {
  let snap: { id: string };
  let plain: { id: string };
  let pub: { id: string };

  beforeAll(async () => {
    // A queued snapshot of project A (no data yet: SAVING), a plain image of A that gets data
    // (ACTIVE), and a public image of the admin.
    snap = await glance(env.a, 'POST', '/v2/images', { name: 'snap-a', disk_format: 'raw', container_format: 'bare', min_ram: 64, min_disk: 1, instance_uuid: SERVER, image_type: 'snapshot', color: 'blue' });
    plain = await glance(env.a, 'POST', '/v2/images', { name: 'plain-a', disk_format: 'raw', container_format: 'bare' });
    const up = await request(glanceSvc.url, 'PUT', `/v2/images/${plain.id}/file`, { token: env.a.token, body: 'x'.repeat(4096), headers: { 'content-type': 'application/octet-stream' } });
    expect(up.status).toBe(204);
    pub = await glance(env.admin, 'POST', '/v2/images', { name: 'pub', disk_format: 'raw', container_format: 'bare', visibility: 'public' });
  }, 60000);

  it('shows an image in Nova’s shape: status, progress, sizes, metadata, server link', async () => {
    const s = await c.r('GET', `/images/${snap.id}`, env.a);
    expectSchema('images.get_image', s);
    const img = s.json.image;
    expect(img).toMatchObject({ id: snap.id, name: 'snap-a', status: 'SAVING', progress: 25, minRam: 64, minDisk: 1, 'OS-EXT-IMG-SIZE:size': null });
    expect(img.metadata).toEqual({ instance_uuid: SERVER, image_type: 'snapshot', color: 'blue' });
    expect(img.server).toEqual({ id: SERVER, links: [{ rel: 'self', href: `${env.url}/v2.1/servers/${SERVER}` }, { rel: 'bookmark', href: `${env.url}/servers/${SERVER}` }] });
    expect(img.links.map((l: { rel: string }) => l.rel)).toEqual(['self', 'bookmark', 'alternate']);
    expect(img.links[0].href).toBe(`${env.url}/v2.1/images/${snap.id}`);
    expect(img.links[2]).toEqual({ rel: 'alternate', type: 'application/vnd.openstack.image', href: `${glanceSvc.url}/images/${snap.id}` });
    expect(img.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const active = (await c.r('GET', `/images/${plain.id}`, env.a)).json.image;
    expect(active).toMatchObject({ status: 'ACTIVE', progress: 100, 'OS-EXT-IMG-SIZE:size': 4096, metadata: {} });
    expect(active.server).toBeUndefined();
  });

  it('answers 404 "Image not found." for unknown, malformed and other projects’ images', async () => {
    for (const id of ['5f8e9a1c-0000-4000-8000-000000000000', 'not-a-uuid', '-1']) {
      const r = await c.r('GET', `/images/${id}`, env.a);
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ itemNotFound: { code: 404, message: 'Image not found.' } });
    }
    expect((await c.r('GET', `/images/${snap.id}`, env.b)).status).toBe(404);
    expect((await c.r('GET', `/images/${pub.id}`, env.b)).status).toBe(200);
  });

  it('lists what the caller may see, brief and detailed', async () => {
    const brief = await c.r('GET', '/images', env.a);
    expectSchema('images.list_images', brief);
    expect(brief.json.images.map((i: { id: string }) => i.id).sort()).toEqual([snap.id, plain.id, pub.id].sort());
    expect(brief.json.images_links).toBeUndefined();
    const detail = await c.r('GET', '/images/detail', env.a);
    expectSchema('images.list_images_details', detail);
    expect(detail.json.images).toHaveLength(3);
    const other = await c.r('GET', '/images/detail', env.b);
    expect(other.json.images.map((i: { id: string }) => i.id)).toEqual([pub.id]);
  });

  it('maps Nova’s filters to the image service’s', async () => {
    const ids = async (q: string, who = env.a) => {
      const r = await c.r('GET', `/images/detail?${q}`, who);
      expect(r.status).toBe(200);
      return r.json.images.map((i: { id: string }) => i.id).sort();
    };
    expect(await ids('name=plain-a')).toEqual([plain.id]);
    expect(await ids('status=ACTIVE')).toEqual([plain.id]);
    expect(await ids(`server=${SERVER}`)).toEqual([snap.id]);
    expect(await ids(`server=${encodeURIComponent(`${env.url}/servers/${SERVER}`)}`)).toEqual([snap.id]);
    expect(await ids('type=snapshot')).toEqual([snap.id]);
    expect(await ids('property-color=blue')).toEqual([snap.id]);
    expect(await ids('minRam=64')).toEqual([snap.id]);
    const later = new Date(Date.now() + 3600_000).toISOString();
    expect(await ids(`changes-since=${encodeURIComponent(later)}`)).toEqual([]);
    expect(await ids('changes-since=2000-01-01T00:00:00Z')).toHaveLength(3);
    // The image service's refusals are 400s, as Nova answers glance's Invalid.
    expect((await c.r('GET', '/images?status=bogus', env.a)).status).toBe(400);
    expect((await c.r('GET', '/images?changes-since=yesterday', env.a)).status).toBe(400);
    expect((await c.r('GET', '/images?limit=-1', env.a)).status).toBe(400);
    expect((await c.r('GET', '/images?marker=5f8e9a1c-0000-4000-8000-000000000000', env.a)).status).toBe(400);
  });

  it('pages with limit/marker and images_links', async () => {
    const p1 = await c.r('GET', '/images?limit=2', env.a);
    expectSchema('images.list_images', p1);
    expect(p1.json.images).toHaveLength(2);
    const next = p1.json.images_links[0];
    expect(next.rel).toBe('next');
    const url = new URL(next.href);
    expect(url.pathname).toBe('/v2.1/images');
    expect(url.searchParams.get('marker')).toBe(p1.json.images[1].id);
    const p2 = await c.r('GET', `/images?${url.searchParams.toString()}`, env.a);
    expect(p2.json.images).toHaveLength(1);
    expect(p2.json.images_links).toBeUndefined();
    const all = [...p1.json.images, ...p2.json.images].map((i: { id: string }) => i.id).sort();
    expect(all).toEqual([snap.id, plain.id, pub.id].sort());
    const d = await c.r('GET', '/images/detail?limit=1', env.a);
    expectSchema('images.list_images_details', d);
    expect(d.json.images).toHaveLength(1);
    expect(d.json.images_links).toHaveLength(1);
  });

  it('image metadata: list, merge, replace, one key; Nova’s errors', async () => {
    const list = await c.r('GET', `/images/${snap.id}/metadata`, env.a);
    expectSchema('images.image_metadata', list);
    expect(list.json.metadata).toEqual({ instance_uuid: SERVER, image_type: 'snapshot', color: 'blue' });

    const merged = await c.r('POST', `/images/${snap.id}/metadata`, env.a, { json: { metadata: { color: 'red', tier: 'L' } } });
    expectSchema('images.image_metadata', merged);
    expect(merged.json.metadata).toEqual({ instance_uuid: SERVER, image_type: 'snapshot', color: 'red', tier: 'L' });

    const item = await c.r('GET', `/images/${snap.id}/metadata/color`, env.a);
    expectSchema('images.image_meta_item', item);
    expect(item.json).toEqual({ meta: { color: 'red' } });
    expect((await c.r('GET', `/images/${snap.id}/metadata/nope`, env.a)).status).toBe(404);

    const set = await c.r('PUT', `/images/${snap.id}/metadata/shape`, env.a, { json: { meta: { shape: 'round' } } });
    expectSchema('images.image_meta_item', set);
    expect(set.json).toEqual({ meta: { shape: 'round' } });
    const mismatch = await c.r('PUT', `/images/${snap.id}/metadata/shape`, env.a, { json: { meta: { other: 'x' } } });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.badRequest.message).toBe('Request body and URI mismatch');
    expect((await c.r('PUT', `/images/${snap.id}/metadata/shape`, env.a, { json: { meta: { shape: 'a', b: 'c' } } })).status).toBe(400);

    const del = await c.r('DELETE', `/images/${snap.id}/metadata/tier`, env.a);
    expect(del.status).toBe(204);
    const gone = await c.r('DELETE', `/images/${snap.id}/metadata/tier`, env.a);
    expect(gone.status).toBe(404);
    expect(gone.json.itemNotFound.message).toBe('Invalid metadata key');

    const replaced = await c.r('PUT', `/images/${snap.id}/metadata`, env.a, { json: { metadata: { only: 'this' } } });
    expectSchema('images.image_metadata', replaced);
    expect(replaced.json.metadata).toEqual({ only: 'this' });
    // The image service holds exactly that now.
    const raw = await glance(env.a, 'GET', `/v2/images/${snap.id}`);
    expect(raw.only).toBe('this');
    expect(raw.color).toBeUndefined();
    expect((await c.r('GET', `/images/${snap.id}`, env.a)).json.image.metadata).toEqual({ only: 'this' });

    // Nova's schema: string values ≤ 255, keys of [a-zA-Z0-9-_:. ], no other top-level key.
    for (const json of [{ metadata: { k: 1 } }, { metadata: { k: 'x'.repeat(256) } }, { metadata: { 'a/b': 'x' } }, { metadata: {}, extra: 1 }, { meta: { k: 'v' } }, { metadata: 'x' }]) {
      const r = await c.r('POST', `/images/${snap.id}/metadata`, env.a, { json });
      expect([r.status, JSON.stringify(json)]).toEqual([400, JSON.stringify(json)]);
    }
    // Unknown image: 404 on every path.
    const unknown = '5f8e9a1c-0000-4000-8000-000000000000';
    expect((await c.r('GET', `/images/${unknown}/metadata`, env.a)).status).toBe(404);
    expect((await c.r('POST', `/images/${unknown}/metadata`, env.a, { json: { metadata: { a: 'b' } } })).status).toBe(404);
    expect((await c.r('PUT', `/images/${unknown}/metadata`, env.a, { json: { metadata: { a: 'b' } } })).status).toBe(404);
    expect((await c.r('PUT', `/images/${unknown}/metadata/a`, env.a, { json: { meta: { a: 'b' } } })).status).toBe(404);
    expect((await c.r('DELETE', `/images/${unknown}/metadata/a`, env.a)).status).toBe(404);
  });

  it('counts image metadata against metadata_items (403 "Image metadata limit exceeded")', async () => {
    const img = await glance(env.a, 'POST', '/v2/images', { name: 'quota', disk_format: 'raw', container_format: 'bare', one: '1' });
    expect((await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { metadata_items: 2 } } })).status).toBe(200);
    try {
      expect((await c.r('POST', `/images/${img.id}/metadata`, env.a, { json: { metadata: { two: '2' } } })).status).toBe(200);
      const over = await c.r('POST', `/images/${img.id}/metadata`, env.a, { json: { metadata: { three: '3' } } });
      expect(over.status).toBe(403);
      expect(over.json.forbidden.message).toBe('Image metadata limit exceeded');
      expect((await c.r('PUT', `/images/${img.id}/metadata`, env.a, { json: { metadata: { a: '1', b: '2', c: '3' } } })).status).toBe(403);
      expect((await c.r('PUT', `/images/${img.id}/metadata/three`, env.a, { json: { meta: { three: '3' } } })).status).toBe(403);
      expect(Object.keys((await glance(env.a, 'GET', `/v2/images/${img.id}`)) as object)).not.toContain('three');
    } finally {
      await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { metadata_items: 128 } } });
    }
  });

  it('refuses readers’ writes and other projects’ images', async () => {
    expect((await c.r('GET', `/images/${snap.id}/metadata`, env.readerA)).status).toBe(200);
    expect((await c.r('POST', `/images/${snap.id}/metadata`, env.readerA, { json: { metadata: { a: 'b' } } })).status).toBe(403);
    expect((await c.r('DELETE', `/images/${snap.id}/metadata/only`, env.readerA)).status).toBe(403);
    expect((await c.r('DELETE', `/images/${snap.id}`, env.readerA)).status).toBe(403);
    expect((await c.r('GET', `/images/${snap.id}/metadata`, env.b)).status).toBe(404);
    expect((await c.r('POST', `/images/${snap.id}/metadata`, env.b, { json: { metadata: { a: 'b' } } })).status).toBe(404);
    expect((await c.r('DELETE', `/images/${snap.id}`, env.b)).status).toBe(404);
    // A public image of another project: visible, but not B's to change or delete (the image service's 403).
    expect((await c.r('POST', `/images/${pub.id}/metadata`, env.b, { json: { metadata: { a: 'b' } } })).status).toBe(403);
    const d = await c.r('DELETE', `/images/${pub.id}`, env.b);
    expect(d.status).toBe(403);
    expect(d.json.forbidden.message).toBe('You are not allowed to delete the image.');
  });

  it('deletes an image (204), after which it is not found', async () => {
    const img = await glance(env.a, 'POST', '/v2/images', { name: 'doomed', disk_format: 'raw', container_format: 'bare' });
    const d = await c.r('DELETE', `/images/${img.id}`, env.a);
    expect(d.status).toBe(204);
    expect((await c.r('GET', `/images/${img.id}`, env.a)).status).toBe(404);
    expect((await c.r('DELETE', `/images/${img.id}`, env.a)).json).toEqual({ itemNotFound: { code: 404, message: 'Image not found.' } });
    expect((await c.r('DELETE', '/images/not-a-uuid', env.a)).status).toBe(404);
  });

  it('exists until 2.35 (image metadata until 2.38)', async () => {
    expect((await c.r('GET', '/images', env.a, at('2.35'))).status).toBe(200);
    expect((await c.r('GET', `/images/${plain.id}`, env.a, at('2.35'))).status).toBe(200);
    expect((await c.r('GET', '/images', env.a, at('2.36'))).status).toBe(404);
    expect((await c.r('GET', '/images/detail', env.a, at('2.36'))).status).toBe(404);
    expect((await c.r('GET', `/images/${plain.id}`, env.a, at('2.36'))).status).toBe(404);
    expect((await c.r('DELETE', `/images/${plain.id}`, env.a, at('2.36'))).status).toBe(404);
    expect((await c.r('GET', `/images/${plain.id}/metadata`, env.a, at('2.38'))).status).toBe(200);
    expect((await c.r('PUT', `/images/${plain.id}/metadata/k`, env.a, { ...at('2.38'), json: { meta: { k: 'v' } } })).status).toBe(200);
    expect((await c.r('GET', `/images/${plain.id}/metadata`, env.a, at('2.39'))).status).toBe(404);
    expect((await c.r('GET', `/images/${plain.id}/metadata/k`, env.a, at('2.39'))).status).toBe(404);
    expect((await c.r('GET', `/images/${plain.id}`, env.a)).status).toBe(200);
  });
});
