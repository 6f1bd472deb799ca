import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EVENTS_EXCHANGE } from '@kumo/contracts';
import { createImage, imageInfo } from '@kumo/hypervisor';
import { AmqpConnection, AmqpRpcTransport, Db } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import amqplib from 'amqplib';
import { Reconciler } from '../src/lifecycle/reconciler.js';
import { call, FakeImageService, startVolumeEnv, type VolumeEnv } from './helpers.js';

/** What compute sees: the volume.* RPCs (attach protocol, idempotency), volume.* events, creating from an image, and crash repair. */
let env: VolumeEnv;
let conn: AmqpConnection;
let transport: AmqpRpcTransport;
let raw: amqplib.ChannelModel;
let images: FakeImageService;
let events: { key: string; data: Record<string, any> }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-volume-img-'));
const imageId = randomUUID();
const imageFile = path.join(work, 'image.qcow2');

beforeAll(async () => {
  // A 64 MiB qcow2 "image" with a recognisable first sector, as the image service's file store would hold it.
  await createImage(imageFile, { format: 'qcow2', sizeBytes: 64 << 20 });
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a 0 512`, imageFile], { stdio: 'ignore' });
  env = await startVolumeEnv({ KUMO_VOLUME_RESERVATION_TIMEOUT_S: '2', KUMO_VOLUME_RECONCILE_INTERVAL_S: '3600', KUMO_VOLUME_QUOTA_VOLUMES: '30' });
  images = await FakeImageService.start(env.vhost.url, {
    get_location: (req: { imageId: string; asProject?: string }) => {
      if (req.imageId !== imageId) throw { code: 'not_found', message: `No image found with ID ${req.imageId}` };
      const now = new Date().toISOString();
      return {
        image: { id: imageId, name: 'tiny', status: 'active', visibility: 'public', owner: null, diskFormat: 'qcow2', containerFormat: 'bare', size: 200000, virtualSize: 64 << 20, checksum: 'c'.repeat(32), minRam: 0, minDisk: 0, properties: { hw_disk_bus: 'virtio' }, tags: [], protected: false, createdAt: now, updatedAt: now },
        store: 'file',
        path: imageFile,
        url: 'http://127.0.0.1:9/',
      };
    },
  });
  conn = new AmqpConnection({ url: env.vhost.url, name: 'volume-test-client', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
  transport = new AmqpRpcTransport(conn, 'compute', 10000);
  raw = await amqplib.connect(env.vhost.url);
  const ch = await raw.createChannel();
  await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, EVENTS_EXCHANGE, 'volume.*');
  await ch.consume(queue, (m) => m && events.push({ key: m.fields.routingKey, data: JSON.parse(m.content.toString()).data }), { noAck: true });
}, 60000);
afterAll(async () => {
  await raw?.close();
  await images?.close();
  await transport?.close();
  await conn?.close();
  await env?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

const volume = () => transport.client('volume');

async function available(size = 1, body: Record<string, unknown> = {}): Promise<string> {
  const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size, ...body } });
  expect(res.status).toBe(202);
  const id = res.json.volume.id as string;
  await waitUntil('available', async () => (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json.volume.status === 'available', { timeoutMs: 20000, intervalMs: 100 });
  return id;
}

const show = async (id: string) => (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json.volume;

describe('attach protocol', () => {
  it('reserve -> attach -> detach, each retried without harm; the REST view follows', async () => {
    const id = await available();
    const ref = { volumeId: id, projectId: env.a.id };
    events = [];
    const r1 = await volume().call('reserve', { ...ref, serverId: 'srv-1' });
    expect(r1.attachment).toMatchObject({ volumeId: id, serverId: 'srv-1', status: 'reserved' });
    expect((await volume().call('reserve', { ...ref, serverId: 'srv-1' })).attachment.id).toBe(r1.attachment.id);
    expect((await show(id)).status).toBe('reserved');
    await expect(volume().call('reserve', { ...ref, serverId: 'srv-2' })).rejects.toMatchObject({ code: 'conflict' });

    const a1 = await volume().call('attach', { ...ref, serverId: 'srv-1', host: 'node1', device: '/dev/vdb' });
    expect(a1.connection).toEqual({ driverVolumeType: 'file', path: path.join(env.dir, id), format: 'qcow2', sizeBytes: 1024 ** 3 });
    expect(a1.attachment).toMatchObject({ id: r1.attachment.id, status: 'attached', host: 'node1', device: '/dev/vdb' });
    expect(await volume().call('attach', { ...ref, serverId: 'srv-1', host: 'node1', device: '/dev/vdb' })).toEqual(a1);
    const v = await show(id);
    expect(v.status).toBe('in-use');
    expect(v.attachments).toEqual([expect.objectContaining({ server_id: 'srv-1', device: '/dev/vdb', attachment_id: r1.attachment.id, volume_id: id, host_name: 'node1' })]);

    // In use: not deletable (Cinder's InvalidVolume, 400), not unreservable.
    const del = await call(env, env.a, 'DELETE', `/v3/${env.a.id}/volumes/${id}`);
    expect(del.status).toBe(400);
    expect(del.json.badRequest.message).toMatch(/attached to server srv-1/);
    await expect(volume().call('unreserve', { ...ref, serverId: 'srv-1' })).rejects.toMatchObject({ code: 'conflict' });

    expect(await volume().call('detach', { ...ref, serverId: 'srv-1' })).toEqual({ ok: true, found: true });
    expect(await volume().call('detach', { ...ref, serverId: 'srv-1' })).toEqual({ ok: true, found: false });
    expect(await show(id)).toMatchObject({ status: 'available', attachments: [] });

    await waitUntil('attached + detached events', () => events.filter((e) => e.key === 'volume.attached' || e.key === 'volume.detached').length >= 2, { timeoutMs: 10000 });
    expect(events.find((e) => e.key === 'volume.attached')!.data).toMatchObject({ volume: { id, status: 'in-use' }, attachment: { serverId: 'srv-1' } });
    expect(events.find((e) => e.key === 'volume.detached')!.data).toEqual({ volumeId: id, projectId: env.a.id, serverId: 'srv-1', attachmentId: r1.attachment.id });
  });

  it('two servers reserving one volume at once: exactly one wins (row lock + one attachment per volume)', async () => {
    const id = await available();
    const results = await Promise.allSettled(['race-1', 'race-2', 'race-3'].map((serverId) => volume().call('reserve', { volumeId: id, projectId: env.a.id, serverId })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(['conflict', 'conflict']);
    const winner = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ attachment: { serverId: string } }>).value.attachment.serverId;
    expect(await volume().call('unreserve', { volumeId: id, projectId: env.a.id, serverId: winner })).toEqual({ ok: true, found: true });
  });

  it('attach without a reservation is a conflict; unreserve gives a reservation back', async () => {
    const id = await available();
    const ref = { volumeId: id, projectId: env.a.id };
    await expect(volume().call('attach', { ...ref, serverId: 'srv-3', host: 'node1', device: null })).rejects.toMatchObject({ code: 'conflict' });
    await volume().call('reserve', { ...ref, serverId: 'srv-3' });
    expect(await volume().call('unreserve', { ...ref, serverId: 'srv-3' })).toEqual({ ok: true, found: true });
    expect(await volume().call('unreserve', { ...ref, serverId: 'srv-3' })).toEqual({ ok: true, found: false });
    expect((await show(id)).status).toBe('available');
  });

  it('a reservation nobody completes expires: the reconciler makes the volume available, and a late attach fails', async () => {
    const id = await available();
    const ref = { volumeId: id, projectId: env.a.id };
    await volume().call('reserve', { ...ref, serverId: 'srv-4' });
    await new Promise((r) => setTimeout(r, 2500));
    await env.svc.app.get(Reconciler).run();
    expect((await show(id)).status).toBe('available');
    await expect(volume().call('attach', { ...ref, serverId: 'srv-4', host: 'node1', device: null })).rejects.toMatchObject({ code: 'conflict' });
  });

  it('1.1: a held reservation (server without a host) never expires; attach connects it later; an attached volume moves to the new host', async () => {
    const id = await available();
    const ref = { volumeId: id, projectId: env.a.id };
    await volume().call('reserve', { ...ref, serverId: 'srv-held', hold: true });
    await new Promise((r) => setTimeout(r, 2500));
    await env.svc.app.get(Reconciler).run();
    expect(await show(id)).toMatchObject({ status: 'reserved', attachments: [] });
    const a = await volume().call('attach', { ...ref, serverId: 'srv-held', host: 'node1', device: '/dev/vdb' });
    expect(a.attachment).toMatchObject({ status: 'attached', host: 'node1' });
    const moved = await volume().call('attach', { ...ref, serverId: 'srv-held', host: 'node2', device: '/dev/vdb' });
    expect(moved.attachment).toMatchObject({ id: a.attachment.id, status: 'attached', host: 'node2', device: '/dev/vdb' });
    expect((await show(id)).attachments).toEqual([expect.objectContaining({ server_id: 'srv-held', host_name: 'node2' })]);
    expect(await volume().call('detach', { ...ref, serverId: 'srv-held' })).toEqual({ ok: true, found: true });
    expect((await show(id)).status).toBe('available');
  });

  it('1.2: attach with host null completes the attachment without a host (in-use, listed); a later attach connects it; a missing host is refused', async () => {
    const id = await available();
    const ref = { volumeId: id, projectId: env.a.id };
    await volume().call('reserve', { ...ref, serverId: 'srv-nohost' });
    await expect(volume().call('attach', { ...ref, serverId: 'srv-nohost', device: '/dev/vdb' } as never)).rejects.toMatchObject({ code: 'bad_request' });
    const a = await volume().call('attach', { ...ref, serverId: 'srv-nohost', host: null, device: '/dev/vdb' });
    expect(a.attachment).toMatchObject({ status: 'attached', host: null, device: '/dev/vdb' });
    expect(a.connection.path).toBeTruthy();
    // Retried: the same attachment, nothing changes.
    expect((await volume().call('attach', { ...ref, serverId: 'srv-nohost', host: null, device: '/dev/vdb' })).attachment).toMatchObject({ id: a.attachment.id, host: null });
    expect(await show(id)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: 'srv-nohost', host_name: null, device: '/dev/vdb' })] });
    // Not a reservation: the reconciler's expiry leaves it alone.
    await new Promise((r) => setTimeout(r, 2500));
    await env.svc.app.get(Reconciler).run();
    expect((await show(id)).status).toBe('in-use');
    const up = await volume().call('attach', { ...ref, serverId: 'srv-nohost', host: 'node1', device: '/dev/vdb' });
    expect(up.attachment).toMatchObject({ id: a.attachment.id, host: 'node1' });
    expect((await show(id)).attachments).toEqual([expect.objectContaining({ server_id: 'srv-nohost', host_name: 'node1' })]);
    expect(await volume().call('detach', { ...ref, serverId: 'srv-nohost' })).toEqual({ ok: true, found: true });
    expect(await show(id)).toMatchObject({ status: 'available', attachments: [] });
  });

  it('1.3: copy puts the data of a volume attached to a server into one reserved for it (swap volume); refuses other volumes and smaller targets', async () => {
    const src = await available(2);
    const dst = await available(3);
    const small = await available(1);
    const other = await available(2);
    const a = { projectId: env.a.id, serverId: 'srv-swap' };
    await volume().call('reserve', { ...a, volumeId: src });
    await volume().call('attach', { ...a, volumeId: src, host: 'node1', device: '/dev/vdb' });
    // Guest data on the source: 64 KiB of 0xab at 1 MiB.
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xab 1M 64k', path.join(env.dir, src)]);
    // Not reserved for the server: refused.
    await expect(volume().call('copy', { ...a, volumeId: dst, sourceVolumeId: src })).rejects.toMatchObject({ code: 'conflict' });
    await volume().call('reserve', { ...a, volumeId: dst });
    await volume().call('copy', { ...a, volumeId: dst, sourceVolumeId: src });
    await volume().call('copy', { ...a, volumeId: dst, sourceVolumeId: src });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0xab 1M 64k', path.join(env.dir, dst)]);
    expect((await imageInfo(path.join(env.dir, dst), { format: 'qcow2' }))['virtual-size']).toBe(3 * 1024 ** 3);
    // The source stays attached (its data was copied, not moved); the target is still only reserved.
    expect((await show(src)).status).toBe('in-use');
    expect((await show(dst)).status).toBe('reserved');
    await volume().call('reserve', { ...a, volumeId: small });
    await expect(volume().call('copy', { ...a, volumeId: small, sourceVolumeId: src })).rejects.toMatchObject({ code: 'bad_request' });
    await volume().call('reserve', { ...a, volumeId: other, serverId: 'srv-other' });
    await expect(volume().call('copy', { ...a, volumeId: other, sourceVolumeId: src })).rejects.toMatchObject({ code: 'conflict' });
    for (const v of [src, dst, small]) await volume().call('detach', { ...a, volumeId: v });
    await volume().call('unreserve', { ...a, volumeId: other, serverId: 'srv-other' });
  });

  it('unknown volumes: get is not_found, detach and delete of a missing volume succeed (idempotent)', async () => {
    const ref = { volumeId: randomUUID(), projectId: env.a.id };
    await expect(volume().call('get', ref)).rejects.toMatchObject({ code: 'not_found' });
    expect(await volume().call('detach', { ...ref, serverId: 'x' })).toEqual({ ok: true, found: false });
    expect(await volume().call('delete', ref)).toEqual({ ok: true, found: false });
  });
});

describe('volumes from images and over RPC', () => {
  it('imageRef: the image data is converted into the volume (bootable, volume_image_metadata), grown to the volume size', async () => {
    const id = await available(1, { imageRef: imageId, name: 'boot' });
    const v = await show(id);
    expect(v).toMatchObject({ bootable: 'true', volume_image_metadata: { image_id: imageId, image_name: 'tiny', disk_format: 'qcow2', hw_disk_bus: 'virtio' } });
    const file = path.join(env.dir, id);
    expect((await imageInfo(file, { format: 'qcow2' }))['virtual-size']).toBe(1024 ** 3);
    // Same content where the image has data; the rest reads as zeros (qemu-img compare allows a larger, zero-filled target).
    execFileSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', imageFile, file]);
  });

  it('an unknown image is 400 at create time', async () => {
    const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size: 1, imageRef: randomUUID() } });
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toMatch(/Invalid image identifier/);
  });

  it('volume.create is idempotent by id; volume.delete removes it (events created/deleted)', async () => {
    const id = randomUUID();
    events = [];
    const first = await volume().call('create', { id, projectId: env.a.id, size: 1, imageId, name: 'bfv' });
    expect(first).toMatchObject({ id, status: 'creating', projectId: env.a.id });
    await waitUntil('available', async () => (await volume().call('get', { volumeId: id, projectId: env.a.id })).status === 'available', { timeoutMs: 20000, intervalMs: 100 });
    expect(await volume().call('create', { id, projectId: env.a.id, size: 1, imageId })).toMatchObject({ id, status: 'available', bootable: true, imageId });
    expect(await volume().call('delete', { volumeId: id, projectId: env.a.id })).toEqual({ ok: true, found: true });
    await waitUntil('deleted event', () => events.some((e) => e.key === 'volume.deleted' && e.data.volumeId === id), { timeoutMs: 10000 });
    expect(events.find((e) => e.key === 'volume.created')!.data.volume).toMatchObject({ id, status: 'available' });
    expect(fs.existsSync(path.join(env.dir, id))).toBe(false);
  });
});

describe('crash repair', () => {
  it('a volume left creating by a dead process of this host becomes error; one left deleting is deleted', async () => {
    const db = env.svc.app.get(Db);
    const stuck = randomUUID();
    // pid 2^22+1 is above Linux's pid_max: certainly not running.
    await db.exec(`INSERT INTO ${db.t('volume')} (id, project_id, size, status, create_owner) VALUES ($1, $2, 1, 'creating', $3)`, [stuck, env.a.id, `${os.hostname()}:4194305:deadbeef`]);
    const deleting = randomUUID();
    fs.writeFileSync(path.join(env.dir, deleting), 'x');
    await db.exec(`INSERT INTO ${db.t('volume')} (id, project_id, size, status, updated_at) VALUES ($1, $2, 1, 'deleting', now() - interval '5 minutes')`, [deleting, env.a.id]);
    await env.svc.app.get(Reconciler).run();
    expect(await show(stuck)).toMatchObject({ status: 'error' });
    expect((await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${deleting}`)).status).toBe(404);
    expect(fs.existsSync(path.join(env.dir, deleting))).toBe(false);
    // An error volume can be deleted by its owner.
    expect((await call(env, env.a, 'DELETE', `/v3/${env.a.id}/volumes/${stuck}`)).status).toBe(202);
  });
});
