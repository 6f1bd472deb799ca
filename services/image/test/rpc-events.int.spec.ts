import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EVENTS_EXCHANGE, RpcError } from '@kumo/contracts';
import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import amqplib from 'amqplib';
import { client, type ImageEnv, startImageEnv } from './helpers.js';

/** What other services see: the image.* RPCs and the image.created/active/deleted events. */
let env: ImageEnv;
let c: ReturnType<typeof client>;
let conn: AmqpConnection;
let transport: AmqpRpcTransport;
let events: { key: string; body: { data: Record<string, any> } }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
let raw: amqplib.ChannelModel;
const importDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-image-import-'));

beforeAll(async () => {
  env = await startImageEnv({ KUMO_IMAGE_IMPORT_DIRS: importDir });
  c = client(env);
  conn = new AmqpConnection({ url: env.vhost.url, name: 'image-test-client', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
  transport = new AmqpRpcTransport(conn, 'compute', 10000);
  raw = await amqplib.connect(env.vhost.url);
  const ch = await raw.createChannel();
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, EVENTS_EXCHANGE, 'image.*');
  await ch.consume(queue, (m) => m && events.push({ key: m.fields.routingKey, body: JSON.parse(m.content.toString()) }), { noAck: true });
}, 60000);
afterAll(async () => {
  await raw?.close();
  await transport?.close();
  await conn?.close();
  await env?.close();
  fs.rmSync(importDir, { recursive: true, force: true });
});

const image = () => transport.client('image');

describe('events', () => {
  it('publishes image.created, image.active and image.deleted with the image', async () => {
    events = [];
    const img = await c.create(env.a, { name: 'evented', hw_disk_bus: 'virtio' });
    await c.upload(env.a, img.id, Buffer.from('event data'));
    await c.del(env.a, img.id);
    await waitUntil('three events', () => events.filter((e) => JSON.stringify(e).includes(img.id)).length >= 3, { timeoutMs: 15000 });
    const mine = events.filter((e) => JSON.stringify(e).includes(img.id));
    expect(mine.map((e) => e.key)).toEqual(['image.created', 'image.active', 'image.deleted']);
    expect(mine[0]!.body.data.image).toMatchObject({ id: img.id, status: 'queued', owner: env.a.id, properties: { hw_disk_bus: 'virtio' } });
    expect(mine[1]!.body.data.image).toMatchObject({ id: img.id, status: 'active', size: 10, checksum: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(mine[2]!.body.data).toMatchObject({ imageId: img.id, owner: env.a.id });
  });
});

describe('RPC', () => {
  it('image.get answers the image, applying the caller project visibility', async () => {
    const img = await c.create(env.a, { name: 'rpc-get', visibility: 'private' });
    expect(await image().call('get', { imageId: img.id })).toMatchObject({ id: img.id, name: 'rpc-get', status: 'queued', owner: env.a.id });
    expect(await image().call('get', { imageId: img.id, asProject: env.a.id })).toMatchObject({ id: img.id });
    await expect(image().call('get', { imageId: img.id, asProject: env.b.id })).rejects.toMatchObject({ code: 'not_found' });
    await expect(image().call('get', { imageId: img.id, asProject: env.b.id, asAdmin: true })).resolves.toMatchObject({ id: img.id });
    await expect(image().call('get', { imageId: 'nope' })).rejects.toBeInstanceOf(RpcError);
  });

  it('image.get_location answers the store path, checksum and a download URL of an active image', async () => {
    const img = await c.create(env.a, { name: 'bootable', kernel_id: '00000000-1111-2222-3333-444455556666' });
    await expect(image().call('get_location', { imageId: img.id })).rejects.toMatchObject({ code: 'conflict' });
    await c.upload(env.a, img.id, Buffer.from('boot me'));
    const loc = await image().call('get_location', { imageId: img.id, asProject: env.a.id });
    expect(loc).toMatchObject({ store: 'file', path: path.join(env.storeDir, img.id), url: `http://127.0.0.1:9/v2/images/${img.id}/file` });
    expect(loc.image).toMatchObject({ checksum: expect.stringMatching(/^[0-9a-f]{32}$/), size: 7, diskFormat: 'raw', properties: { kernel_id: '00000000-1111-2222-3333-444455556666' } });
    expect(fs.readFileSync(loc.path!, 'utf8')).toBe('boot me');
    await c.r('POST', `/v2/images/${img.id}/actions/deactivate`, env.a);
    await expect(image().call('get_location', { imageId: img.id, asProject: env.a.id })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('image.create registers a queued image (idempotent by id, quota-checked, validated)', async () => {
    const id = '7d3c1a52-1b2b-4c3d-8e4f-5a6b7c8d9e0f';
    const req = { id, owner: env.a.id, name: 'snapshot-1', diskFormat: 'qcow2', containerFormat: 'bare', properties: { image_type: 'snapshot', instance_uuid: 'abc' } };
    const first = await image().call('create', req);
    expect(first).toMatchObject({ id, status: 'queued', visibility: 'private', owner: env.a.id, properties: { image_type: 'snapshot' } });
    expect((await image().call('create', req)).createdAt).toBe(first.createdAt);
    expect((await c.show(env.a, id)).json.name).toBe('snapshot-1');
    await expect(image().call('create', { ...req, id: undefined, diskFormat: 'nope' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(image().call('create', { ...req, id: undefined, owner: '' })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('image.delete removes an image of the given project (others: not_found; protected: conflict)', async () => {
    const req = { owner: env.a.id, name: 'vm-shelved', diskFormat: 'qcow2', containerFormat: 'bare', properties: { image_type: 'snapshot' } };
    const img = await image().call('create', req);
    await expect(image().call('delete', { imageId: img.id, asProject: env.b.id })).rejects.toMatchObject({ code: 'not_found' });
    expect(await image().call('delete', { imageId: img.id, asProject: env.a.id })).toEqual({ deleted: true });
    expect((await c.show(env.a, img.id)).status).toBe(404);
    await expect(image().call('delete', { imageId: img.id })).rejects.toMatchObject({ code: 'not_found' });
    await waitUntil('image.deleted event', () => events.some((e) => e.key === 'image.deleted' && e.body.data.imageId === img.id));
    const kept = await image().call('create', { ...req, name: 'kept' });
    expect((await c.patch(env.a, kept.id, [{ op: 'replace', path: '/protected', value: true }])).status).toBe(200);
    await expect(image().call('delete', { imageId: kept.id })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('image.list answers a project’s images having all the properties, oldest first (createBackup rotation)', async () => {
    const srv = '7c1f9d2e-1111-4a4a-8b8b-0123456789ab';
    const mk = (name: string, owner: string, properties: Record<string, string>) => image().call('create', { owner, name, diskFormat: 'raw', containerFormat: 'bare', properties });
    const b1 = await mk('bk-1', env.a.id, { image_type: 'backup', backup_type: 'daily', instance_uuid: srv });
    await mk('bk-weekly', env.a.id, { image_type: 'backup', backup_type: 'weekly', instance_uuid: srv });
    await mk('bk-other-project', env.b.id, { image_type: 'backup', backup_type: 'daily', instance_uuid: srv });
    const b2 = await mk('bk-2', env.a.id, { image_type: 'backup', backup_type: 'daily', instance_uuid: srv, extra: 'x' });
    const { images } = await image().call('list', { owner: env.a.id, properties: { image_type: 'backup', backup_type: 'daily', instance_uuid: srv } });
    expect(images.map((i: { id: string }) => i.id)).toEqual([b1.id, b2.id]);
    await image().call('delete', { imageId: b1.id, asProject: env.a.id });
    expect((await image().call('list', { owner: env.a.id, properties: { backup_type: 'daily', instance_uuid: srv } })).images.map((i: { id: string }) => i.id)).toEqual([b2.id]);
    await expect(image().call('list', { owner: '', properties: {} })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('image.import_file fills a queued image from an allowed directory, with the same inspection', async () => {
    const data = Buffer.alloc(5000, 0x33);
    const file = path.join(importDir, 'snap.raw');
    fs.writeFileSync(file, data);
    const img = await image().call('create', { owner: env.a.id, name: 'from-file', diskFormat: 'raw', containerFormat: 'bare' });
    const done = await image().call('import_file', { imageId: img.id, path: file, removeSource: true }, { timeoutMs: 30000 });
    expect(done).toMatchObject({ id: img.id, status: 'active', size: 5000 });
    expect(fs.existsSync(file)).toBe(false);
    expect((await c.download(env.a, img.id)).body.equals(data)).toBe(true);
    // idempotent retry
    expect((await image().call('import_file', { imageId: img.id, path: path.join(importDir, 'gone') }).catch((e) => e)).code).toBe('bad_request');
    fs.writeFileSync(file, data);
    expect((await image().call('import_file', { imageId: img.id, path: file })).status).toBe('active');

    const q = await image().call('create', { owner: env.a.id, name: 'refused', diskFormat: 'qcow2', containerFormat: 'bare' });
    await expect(image().call('import_file', { imageId: q.id, path: file })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/declared format qcow2/) });
    expect((await c.show(env.a, q.id)).json.status).toBe('killed');
    await expect(image().call('import_file', { imageId: img.id, path: '/etc/passwd' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/outside/) });
  });
});
