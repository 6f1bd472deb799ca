import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { waitUntil } from '@kumo/service-kit/testing';
import { setQuotaCommand } from '../src/commands/set-quota.command.js';
import { client, type ImageEnv, request, startImageEnv, storeFiles } from './helpers.js';

let env: ImageEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startImageEnv({ KUMO_IMAGE_QUOTA_IMAGES: '6', KUMO_IMAGE_QUOTA_BYTES: '3mib' });
  c = client(env);
  // Small default quotas for the quota tests; project a works without limits.
  await setQuotaCommand.run(env.svc.config, ['--project', env.a.id, '--images', 'unlimited', '--bytes', 'unlimited']);
}, 60000);
afterAll(() => env?.close());

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

/** A body sent with Transfer-Encoding: chunked, in uneven pieces. */
const chunked = (data: Buffer) => Readable.from((function* () {
  for (let i = 0; i < data.length; i += 65521) yield data.subarray(i, i + 65521);
})());

describe('upload and download', () => {
  it('stores a chunked upload with md5, sha512, size and virtual size; downloads it with Content-MD5', async () => {
    const data = randomBytes(1 << 20);
    const img = await c.create(env.a, { name: 'chunky' });
    const up = await c.upload(env.a, img.id, chunked(data));
    expect(up.status).toBe(204);
    expect(up.body.length).toBe(0);
    const shown = (await c.show(env.a, img.id)).json;
    expect(shown).toMatchObject({ status: 'active', size: data.length, virtual_size: data.length, checksum: md5(data), os_hash_algo: 'sha512', os_hash_value: sha512(data) });
    const dl = await c.download(env.a, img.id);
    expect(dl.status).toBe(200);
    expect(dl.headers['content-type']).toBe('application/octet-stream');
    expect(dl.headers['content-md5']).toBe(md5(data));
    expect(dl.headers['content-length']).toBe(String(data.length));
    expect(dl.body.equals(data)).toBe(true);
  });

  it('answers 204 with an empty body for an image without data', async () => {
    const img = await c.create(env.a);
    const dl = await c.download(env.a, img.id);
    expect(dl.status).toBe(204);
    expect(dl.body.length).toBe(0);
  });

  it('serves byte ranges (206 + Content-Range) and refuses impossible ones (416)', async () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const img = await c.create(env.a);
    await c.upload(env.a, img.id, data);
    const part = await c.download(env.a, img.id, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/1000');
    expect(part.headers['content-length']).toBe('100');
    expect(part.headers['content-md5']).toBeUndefined();
    expect(part.body.equals(data.subarray(100, 200))).toBe(true);
    expect((await c.download(env.a, img.id, { range: 'bytes=900-' })).body.equals(data.subarray(900))).toBe(true);
    expect((await c.download(env.a, img.id, { range: 'bytes=-10' })).body.equals(data.subarray(990))).toBe(true);
    const bad = await c.download(env.a, img.id, { range: 'bytes=1000-' });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe('bytes */1000');
    expect(bad.json).toMatchObject({ code: '416 Range Not Satisfiable' });
    expect((await c.download(env.a, img.id, { range: 'bytes=0-1,5-6' })).status).toBe(416);
  });

  it('answers HEAD on the file with headers only', async () => {
    const img = await c.create(env.a);
    await c.upload(env.a, img.id, Buffer.from('head me'));
    const res = await request(env.url, 'HEAD', `/v2/images/${img.id}/file`, { token: env.a.token });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('7');
    expect(res.body.length).toBe(0);
  });
});

describe('quotas', () => {
  it('refuses images beyond the count quota (413) and counts again after a delete', async () => {
    const p = { id: `quota${Date.now()}`, token: '' };
    p.token = await env.identity.token({ projectId: p.id, roles: ['member', 'reader'] });
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push((await c.create(p)).id);
    const over = await c.r('POST', '/v2/images', p, { json: { name: 'seventh' } });
    expect(over.status).toBe(413);
    expect(over.json.message).toMatch(/Image quota exceeded for project .*: it has 6 image\(s\) and may have at most 6/);
    await c.del(p, made[0]!);
    expect((await c.r('POST', '/v2/images', p, { json: { name: 'seventh' } })).status).toBe(201);
  });

  it('refuses data beyond the storage quota (413), up front by Content-Length and mid-stream when chunked', async () => {
    const p = { id: `bytes${Date.now()}`, token: '' };
    p.token = await env.identity.token({ projectId: p.id, roles: ['member', 'reader'] });
    const first = await c.create(p);
    expect((await c.upload(p, first.id, Buffer.alloc(2 << 20, 1))).status).toBe(204);
    const second = await c.create(p);
    const upfront = await c.upload(p, second.id, Buffer.alloc(2 << 20, 2));
    expect(upfront.status).toBe(413);
    expect(upfront.json.message).toMatch(/storage quota exceeded/);
    const streamed = await c.upload(p, second.id, chunked(Buffer.alloc(2 << 20, 3)));
    expect(streamed.status).toBe(413);
    expect((await c.show(p, second.id)).json.status).toBe('queued');
    expect(storeFiles(env.storeDir).filter((f) => f.includes(second.id))).toEqual([]);
    expect((await c.upload(p, second.id, Buffer.alloc(512 << 10, 4))).status).toBe(204);
    const usage = (await c.r('GET', '/v2/info/usage', p)).json.usage;
    expect(usage.image_size_total).toEqual({ limit: 3 << 20, usage: (2 << 20) + (512 << 10) });
    expect(usage.image_count_total).toEqual({ limit: 6, usage: 2 });
  });

  it('takes per-project overrides from `main.js set-quota`', async () => {
    const p = { id: `override${Date.now()}`, token: '' };
    p.token = await env.identity.token({ projectId: p.id, roles: ['member', 'reader'] });
    await setQuotaCommand.run(env.svc.config, ['--project', p.id, '--images', '1', '--bytes', 'unlimited']);
    const img = await c.create(p);
    expect((await c.r('POST', '/v2/images', p, { json: {} })).status).toBe(413);
    expect((await c.upload(p, img.id, Buffer.alloc(4 << 20, 5))).status).toBe(204);
    await setQuotaCommand.run(env.svc.config, ['--project', p.id, '--images', 'default', '--bytes', 'default']);
    expect((await c.r('POST', '/v2/images', p, { json: {} })).status).toBe(201);
  });
});

describe('interoperable import (glance-direct)', () => {
  it('stages (uploading), imports (202) and ends active with a successful task', async () => {
    const data = randomBytes(300_000);
    const img = await c.create(env.a, { name: 'imported' });
    const staged = await c.r('PUT', `/v2/images/${img.id}/stage`, env.a, { body: chunked(data), contentType: 'application/octet-stream' });
    expect(staged.status).toBe(204);
    expect((await c.show(env.a, img.id)).json.status).toBe('uploading');
    expect((await c.download(env.a, img.id)).status).toBe(204);
    const imp = await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'glance-direct' }, all_stores: true } });
    expect(imp.status).toBe(202);
    await waitUntil('the import to finish', async () => (await c.show(env.a, img.id)).json.status === 'active', { timeoutMs: 20000 });
    expect((await c.show(env.a, img.id)).json).toMatchObject({ size: data.length, checksum: md5(data), os_hash_value: sha512(data) });
    expect((await c.download(env.a, img.id)).body.equals(data)).toBe(true);
    const tasks = (await c.r('GET', `/v2/images/${img.id}/tasks`, env.a)).json.tasks;
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'success', type: 'api_image_import', request_id: imp.headers['x-openstack-request-id'], input: { import_req: { method: { name: 'glance-direct' } } } });
    expect(storeFiles(env.storeDir).filter((f) => f.includes(img.id))).toEqual([img.id]);
  });

  it('kills an image whose staged data is refused, and records the failed task', async () => {
    const img = await c.create(env.a, { disk_format: 'qcow2' });
    await c.r('PUT', `/v2/images/${img.id}/stage`, env.a, { body: Buffer.alloc(70000, 7), contentType: 'application/octet-stream' });
    expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'glance-direct' } } })).status).toBe(202);
    await waitUntil('the import to fail', async () => (await c.show(env.a, img.id)).json.status === 'killed', { timeoutMs: 20000 });
    const tasks = (await c.r('GET', `/v2/images/${img.id}/tasks`, env.a)).json.tasks;
    await waitUntil('the task to fail', async () => (await c.r('GET', `/v2/images/${img.id}/tasks`, env.a)).json.tasks[0].status === 'failure');
    expect(tasks[0].type).toBe('api_image_import');
    expect(storeFiles(env.storeDir).filter((f) => f.includes(img.id))).toEqual([]);
  });

  it('refuses imports without staged data, unknown methods and unknown stores', async () => {
    const img = await c.create(env.a);
    expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'glance-direct' } } })).status).toBe(409);
    expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'web-download', uri: 'http://example.com/x' } } })).status).toBe(400);
    expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: {} })).status).toBe(400);
    await c.r('PUT', `/v2/images/${img.id}/stage`, env.a, { body: Buffer.from('x'), contentType: 'application/octet-stream' });
    expect((await c.r('POST', `/v2/images/${img.id}/import`, env.a, { json: { method: { name: 'glance-direct' }, stores: ['ceph'] } })).status).toBe(400);
    expect((await c.upload(env.a, img.id, Buffer.from('direct'))).status).toBe(409);
  });

  it('deleting a staged image removes its staged data', async () => {
    const img = await c.create(env.a);
    await c.r('PUT', `/v2/images/${img.id}/stage`, env.a, { body: Buffer.from('to be deleted'), contentType: 'application/octet-stream' });
    expect(storeFiles(env.storeDir).filter((f) => f.includes(img.id))).toEqual([`.staging/${img.id}.staged`]);
    expect((await c.del(env.a, img.id)).status).toBe(204);
    expect(storeFiles(env.storeDir).filter((f) => f.includes(img.id))).toEqual([]);
  });
});
