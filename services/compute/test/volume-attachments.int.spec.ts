import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createImage } from '@kumo/hypervisor';
import { AmqpRpcTransport, Db } from '@kumo/service-kit';
import { type TestService, waitUntil } from '@kumo/service-kit/testing';
import { Reconciler } from '../src/conductor/reconciler.js';
import { client, type ComputeEnv, type Project, request, startComputeWithVolume } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// The real volume service (services/volume), in-process on its own database and volume directory
// but on compute's vhost: compute calls its RPCs (get, reserve, attach, detach, unreserve), and
// its files are made by the real qemu-img.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithVolume>>;
let vol: { svc: TestService; dir: string };

beforeAll(async () => {
  stack = await startComputeWithVolume({ hosts: ['va-1'] }, { KUMO_VOLUME_QUOTA_VOLUMES: '50' });
  env = stack.env;
  vol = { svc: stack.volume, dir: stack.dir };
  c = client(env);
}, 120000);
afterAll(async () => {
  await stack?.close();
});

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const cinder = (who: Project, method: string, url: string, json?: unknown) => request(vol.svc.url, method, `/v3/${who.id}${url}`, { token: who.token, json });
const volumeOf = async (who: Project, id: string) => (await cinder(who, 'GET', `/volumes/${id}`)).json.volume;
const newVolume = async (who: Project, name = 'data') => {
  const res = await cinder(who, 'POST', '/volumes', { volume: { size: 1, name } });
  expect(res.status).toBe(202);
  const id = res.json.volume.id as string;
  await waitUntil(`volume ${id} available`, async () => (await volumeOf(who, id)).status === 'available', { timeoutMs: 20000, intervalMs: 100 });
  return id;
};
const disksOf = async (serverId: string) => (await env.drivers.get('va-1')!.getInfo(serverId)).spec.disks.map((d) => ({ id: d.id, path: d.path, serial: d.serial }));
const attach = (who: Project, serverId: string, body: Record<string, unknown>) => c.r('POST', `/servers/${serverId}/os-volume_attachments`, who, { json: { volumeAttachment: body } });

describe('os-volume_attachments with the real volume service', () => {
  it('attaches (disk hot-plugged with the volume file), lists, shows and detaches, in Tempest shapes', async () => {
    const s = await c.bootActive(env.a, { name: 'with-volume' });
    const v = await newVolume(env.a);

    const res = await attach(env.a, s.id, { volumeId: v, device: null });
    expectSchema('servers.attach_volume', res);
    expect(res.json.volumeAttachment).toEqual({ id: v, serverId: s.id, volumeId: v, device: '/dev/vdb' });
    expect(await disksOf(s.id)).toContainEqual({ id: `vol-${v.slice(0, 23)}`, path: path.join(vol.dir, v), serial: v.slice(0, 20) });
    const inUse = await volumeOf(env.a, v);
    expect(inUse.status).toBe('in-use');
    expect(inUse.attachments).toEqual([expect.objectContaining({ server_id: s.id, device: '/dev/vdb', host_name: 'va-1', volume_id: v })]);
    expect((await c.show(env.a, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();

    const list = await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a);
    expectSchema('servers.list_volume_attachments', list);
    expect(list.json.volumeAttachments).toEqual([{ id: v, serverId: s.id, volumeId: v, device: '/dev/vdb' }]);
    const show = await c.r('GET', `/servers/${s.id}/os-volume_attachments/${v}`, env.a);
    expectSchema('servers.show_volume_attachment', show);

    // A second volume gets the next device; a requested free name is honoured.
    const v2 = await newVolume(env.a, 'second');
    expect((await attach(env.a, s.id, { volumeId: v2, device: '/dev/vdd' })).json.volumeAttachment.device).toBe('/dev/vdd');
    expect((await attach(env.a, s.id, { volumeId: v })).status).toBe(400); // already attached here

    const det = await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${v}`, env.a);
    expect(det.status).toBe(202);
    expect((await disksOf(s.id)).map((d) => d.id)).not.toContain(`vol-${v.slice(0, 23)}`);
    expect(await volumeOf(env.a, v)).toMatchObject({ status: 'available', attachments: [] });
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments/${v}`, env.a)).status).toBe(404);
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${v}`, env.a)).status).toBe(404);

    // Deleting the server gives its volumes back (available, not deleted: delete_on_termination is false).
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    await waitUntil('v2 released', async () => (await volumeOf(env.a, v2)).status === 'available', { timeoutMs: 10000, intervalMs: 100 });
  });

  it('an ERROR server (os-resetState) is deleted with its volume detached back to available', async () => {
    const s = await c.bootActive(env.a, { name: 'error-with-volume' });
    const v = await newVolume(env.a, 'error-data');
    expect((await attach(env.a, s.id, { volumeId: v })).status).toBe(200);
    await waitUntil('volume in-use', async () => (await volumeOf(env.a, v)).status === 'in-use', { timeoutMs: 10000, intervalMs: 100 });
    expect((await c.action(env.admin, s.id, { 'os-resetState': { state: 'error' } })).status).toBe(202);
    expect((await c.show(env.a, s.id)).json.server.status).toBe('ERROR');
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    const after = await volumeOf(env.a, v);
    expect(after.status).toBe('available');
    expect(after.attachments).toEqual([]);
  });

  it('refuses bad bodies (400), unknown volumes (404), volumes in use elsewhere (400)', async () => {
    const s = await c.bootActive(env.a, { name: 'bad-input' });
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: {} })).json.badRequest.code).toBe(400);
    expect((await attach(env.a, s.id, { volumeId: 'not-a-uuid' })).status).toBe(400);
    expect((await attach(env.a, s.id, { volumeId: '11111111-2222-4333-8444-555555555555' })).json.itemNotFound.code).toBe(404);
    const s2 = await c.bootActive(env.a, { name: 'other' });
    const v = await newVolume(env.a);
    expect((await attach(env.a, s2.id, { volumeId: v })).status).toBe(200);
    const again = await attach(env.a, s.id, { volumeId: v });
    expect(again.status).toBe(400);
    expect(again.json.badRequest.message).toMatch(/Invalid volume/);
    expect((await c.show(env.a, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
  });

  it('another project: its volume is 404 to us, our server is 404 to it; a reader may not attach (403)', async () => {
    const s = await c.bootActive(env.a, { name: 'isolated' });
    const theirs = await newVolume(env.b, 'theirs');
    expect((await attach(env.a, s.id, { volumeId: theirs })).status).toBe(404);
    expect((await volumeOf(env.b, theirs)).status).toBe('available');
    const mine = await newVolume(env.a, 'mine');
    expect((await attach(env.b, s.id, { volumeId: mine })).status).toBe(404);
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.b)).status).toBe(404);
    const reader = await attach(env.readerA, s.id, { volumeId: mine });
    expect(reader.status).toBe(403);
    expect((await volumeOf(env.a, mine)).status).toBe('available');
  });

  it('a hot-plug the agent refuses leaves the volume available and the server without it', async () => {
    const s = await c.bootActive(env.a, { name: 'refusing' });
    const v = await newVolume(env.a);
    const driver = env.drivers.get('va-1')!;
    const original = driver.attachDisk.bind(driver);
    driver.attachDisk = () => Promise.reject(new Error('no more PCI slots'));
    try {
      const res = await attach(env.a, s.id, { volumeId: v });
      expect(res.status).toBe(500);
    } finally {
      driver.attachDisk = original;
    }
    expect(await volumeOf(env.a, v)).toMatchObject({ status: 'available', attachments: [] });
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a)).json.volumeAttachments).toEqual([]);
    expect((await c.show(env.a, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
  });

  it('an attach interrupted by a crash (entry attaching, volume reserved) is rolled back by the reconciler', async () => {
    const s = await c.bootActive(env.a, { name: 'crashed' });
    const v = await newVolume(env.a);
    // What a dead API process leaves: the task and the pending entry, the volume reserved for the server.
    await env.svc.app.get(AmqpRpcTransport).client('volume').call('reserve', { volumeId: v, projectId: env.a.id, serverId: s.id });
    const db = env.svc.app.get(Db);
    await db.exec(
      `UPDATE ${db.t('instance')} SET task_state = 'volume_attaching', task_updated_at = now() - interval '1 hour', task_started_at = now() - interval '1 hour',
         volumes = $2 WHERE id = $1`,
      [s.id, JSON.stringify([{ volumeId: v, attachmentId: null, device: '/dev/vdb', status: 'attaching', path: null, format: null, deleteOnTermination: false }])],
    );
    expect((await volumeOf(env.a, v)).status).toBe('reserved');
    await env.svc.app.get(Reconciler).pass();
    expect((await volumeOf(env.a, v)).status).toBe('available');
    const after = (await c.show(env.a, s.id)).json.server;
    expect(after['OS-EXT-STS:task_state']).toBeNull();
    expect(after.status).toBe('ACTIVE');
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a)).json.volumeAttachments).toEqual([]);
  });
});

describe('2.20: volumes of shelved servers', () => {
  const v = (minor: number) => ({ headers: { 'OpenStack-API-Version': `compute 2.${minor}` } });
  const shelveOffloaded = async (name: string) => {
    const s = await c.bootActive(env.a, { name });
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    return c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
  };

  it('below 2.20 a shelved_offloaded server refuses attach (409); at 2.20 the attachment is completed without a host, listed, and connected on the host it unshelves to', async () => {
    const s = await shelveOffloaded('shelf-vol');
    const vid = await newVolume(env.a);
    const old = await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid } }, ...v(19) });
    expect(old.status).toBe(409);
    expect(old.json.conflictingRequest.message).toBe(`Cannot 'attach_volume' instance ${s.id} while it is in vm_state shelved_offloaded`);
    expect((await volumeOf(env.a, vid)).status).toBe('available');

    const res = await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid } }, ...v(20) });
    expect(res.status).toBe(200);
    expectSchema('servers.attach_volume', res);
    expect(res.json.volumeAttachment).toEqual({ id: vid, serverId: s.id, volumeId: vid, device: '/dev/vdb' });
    // Cinder after Nova's attachment without a connector is completed: in-use, listed with the server and no host.
    expect(await volumeOf(env.a, vid)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, host_name: null, device: '/dev/vdb' })] });
    const list = await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a, v(20));
    expectSchema('servers.list_volume_attachments', list);
    expect(list.json.volumeAttachments).toEqual([{ id: vid, serverId: s.id, volumeId: vid, device: '/dev/vdb' }]);
    const shown = (await c.show(env.a, s.id)).json.server;
    expect(shown.status).toBe('SHELVED_OFFLOADED');
    expect(shown['os-extended-volumes:volumes_attached']).toEqual([{ id: vid }]);
    // Another project sees neither the server nor its attachments.
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.b, { json: { volumeAttachment: { volumeId: vid } }, ...v(20) })).status).toBe(404);
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.b, v(20))).status).toBe(404);
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${vid}`, env.b, v(20))).status).toBe(404);

    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    const up = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(up['OS-EXT-SRV-ATTR:host'] ?? 'va-1').toBe('va-1');
    expect(await disksOf(s.id)).toContainEqual({ id: `vol-${vid.slice(0, 23)}`, path: path.join(vol.dir, vid), serial: vid.slice(0, 20) });
    expect(await volumeOf(env.a, vid)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, host_name: 'va-1', device: '/dev/vdb' })] });

    // Detached while running as usual; the volume is available again.
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${vid}`, env.a)).status).toBe(202);
    expect(await volumeOf(env.a, vid)).toMatchObject({ status: 'available', attachments: [] });
  });

  it('detach while offloaded (2.20) releases the volume without any agent; 409 below 2.20; a volume kept through shelve follows the server to its host', async () => {
    const s0 = await c.bootActive(env.a, { name: 'kept-vol' });
    const kept = await newVolume(env.a, 'kept');
    expect((await attach(env.a, s0.id, { volumeId: kept })).status).toBe(200);
    expect((await c.action(env.a, s0.id, { shelve: null })).status).toBe(202);
    const s = await c.waitStatus(env.a, s0.id, 'SHELVED_OFFLOADED');
    const extra = await newVolume(env.a, 'extra');
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: extra } }, ...v(20) })).json.volumeAttachment.device).toBe('/dev/vdc');
    expect(await volumeOf(env.a, extra)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, host_name: null })] });

    const old = await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${extra}`, env.a, v(19));
    expect(old.status).toBe(409);
    const driver = env.drivers.get('va-1')!;
    const detachDisk = jest.spyOn(driver, 'detachDisk');
    try {
      expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${extra}`, env.a, v(20))).status).toBe(202);
      expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${kept}`, env.a, v(20))).status).toBe(202);
      expect(detachDisk).not.toHaveBeenCalled();
    } finally {
      detachDisk.mockRestore();
    }
    expect(await volumeOf(env.a, extra)).toMatchObject({ status: 'available', attachments: [] });
    expect(await volumeOf(env.a, kept)).toMatchObject({ status: 'available', attachments: [] });
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a, v(20))).json.volumeAttachments).toEqual([]);
    const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a)).json.instanceActions.map((a: { action: string }) => a.action);
    expect(actions.slice(0, 3)).toEqual(['detach_volume', 'detach_volume', 'attach_volume']);

    // Re-attached while offloaded, then unshelved: only that volume is on the domain.
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: kept } }, ...v(20) })).status).toBe(200);
    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await disksOf(s.id)).map((d) => d.id)).toEqual(expect.arrayContaining([`vol-${kept.slice(0, 23)}`]));
    expect((await disksOf(s.id)).map((d) => d.id)).not.toContain(`vol-${extra.slice(0, 23)}`);
    expect((await volumeOf(env.a, kept)).status).toBe('in-use');
    // Deleting the server gives it back.
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    await waitUntil('kept released', async () => (await volumeOf(env.a, kept)).status === 'available', { timeoutMs: 10000, intervalMs: 100 });
  });

  it('a volume attached to an offloaded server is given back when the server is deleted', async () => {
    const s = await shelveOffloaded('shelf-del');
    const vid = await newVolume(env.a);
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid } }, ...v(20) })).status).toBe(200);
    expect((await volumeOf(env.a, vid)).status).toBe('in-use');
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    await waitUntil('released', async () => (await volumeOf(env.a, vid)).status === 'available', { timeoutMs: 10000, intervalMs: 100 });
  });

  it('an attach to an offloaded server interrupted after the volume service completed it is rolled back by the reconciler (no agent asked)', async () => {
    const s = await shelveOffloaded('shelf-crash');
    const vid = await newVolume(env.a);
    // What a dead API process leaves: the task, the pending entry, the attachment completed without a host.
    const rpc = env.svc.app.get(AmqpRpcTransport).client('volume');
    await rpc.call('reserve', { volumeId: vid, projectId: env.a.id, serverId: s.id });
    await rpc.call('attach', { volumeId: vid, projectId: env.a.id, serverId: s.id, host: null, device: '/dev/vdb' });
    expect((await volumeOf(env.a, vid)).status).toBe('in-use');
    const db = env.svc.app.get(Db);
    await db.exec(
      `UPDATE ${db.t('instance')} SET task_state = 'volume_attaching', task_updated_at = now() - interval '1 hour', task_started_at = now() - interval '1 hour',
         volumes = $2 WHERE id = $1`,
      [s.id, JSON.stringify([{ volumeId: vid, attachmentId: null, device: '/dev/vdb', status: 'attaching', path: null, format: null, deleteOnTermination: false }])],
    );
    const detachDisk = jest.spyOn(env.drivers.get('va-1')!, 'detachDisk');
    try {
      await env.svc.app.get(Reconciler).pass();
      expect(detachDisk).not.toHaveBeenCalled();
    } finally {
      detachDisk.mockRestore();
    }
    expect(await volumeOf(env.a, vid)).toMatchObject({ status: 'available', attachments: [] });
    const after = (await c.show(env.a, s.id)).json.server;
    expect(after['OS-EXT-STS:task_state']).toBeNull();
    expect(after.status).toBe('SHELVED_OFFLOADED');
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a, v(20))).json.volumeAttachments).toEqual([]);
  });

  it('an entry left reserved by a release before contract 1.2 (a held reservation) is still connected at unshelve', async () => {
    const s = await shelveOffloaded('shelf-legacy');
    const vid = await newVolume(env.a);
    await env.svc.app.get(AmqpRpcTransport).client('volume').call('reserve', { volumeId: vid, projectId: env.a.id, serverId: s.id, hold: true });
    const db = env.svc.app.get(Db);
    await db.exec(`UPDATE ${db.t('instance')} SET volumes = $2 WHERE id = $1`, [
      s.id,
      JSON.stringify([{ volumeId: vid, attachmentId: null, device: '/dev/vdb', status: 'reserved', path: null, format: null, deleteOnTermination: false }]),
    ]);
    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await disksOf(s.id)).map((d) => d.id)).toContain(`vol-${vid.slice(0, 23)}`);
    expect(await volumeOf(env.a, vid)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, host_name: 'va-1' })] });
  });
});

describe('swap volume (PUT os-volume_attachments/{id}, admin)', () => {
  const swap = (who: Project, serverId: string, oldId: string, body: unknown) => c.r('PUT', `/servers/${serverId}/os-volume_attachments/${oldId}`, who, { json: body });
  const qemuIo = (file: string, cmd: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, file]);
  // Project b: project a's instance quota (10) is used by the blocks above.
  const booted: string[] = [];
  const boot = async (name: string) => {
    const s = await c.bootActive(env.b, { name });
    booted.push(s.id);
    return s;
  };
  afterAll(async () => {
    for (const id of booted) await c.r('DELETE', `/servers/${id}`, env.b);
    for (const id of booted) await c.waitStatus(env.b, id, 'DELETED');
  });

  it("replaces the disk at the same device with the old volume's data; the old volume is available again; and back", async () => {
    const s = await boot('swapper');
    const v1 = await newVolume(env.b, 'swap-1');
    const v2 = await newVolume(env.b, 'swap-2');
    expect((await attach(env.b, s.id, { volumeId: v1 })).status).toBe(200);
    qemuIo(path.join(vol.dir, v1), 'write -P 0x5a 0 64k');

    // Nova's default policy: admin only.
    expect((await swap(env.b, s.id, v1, { volumeAttachment: { volumeId: v2 } })).status).toBe(403);

    expect((await swap(env.admin, s.id, v1, { volumeAttachment: { volumeId: v2 } })).status).toBe(202);
    const list = await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.b);
    expectSchema('servers.list_volume_attachments', list);
    expect(list.json.volumeAttachments).toEqual([{ id: v2, serverId: s.id, volumeId: v2, device: '/dev/vdb' }]);
    expect(await volumeOf(env.b, v1)).toMatchObject({ status: 'available', attachments: [] });
    expect(await volumeOf(env.b, v2)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, host_name: 'va-1', device: '/dev/vdb' })] });
    const disks = (await disksOf(s.id)).map((d) => d.id);
    expect(disks).toContain(`vol-${v2.slice(0, 23)}`);
    expect(disks).not.toContain(`vol-${v1.slice(0, 23)}`);
    qemuIo(path.join(vol.dir, v2), 'read -P 0x5a 0 64k');
    const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.b)).json.instanceActions.map((a: { action: string }) => a.action);
    expect(actions[0]).toBe('swap_volume');
    expect((await c.show(env.b, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();

    expect((await swap(env.admin, s.id, v2, { volumeAttachment: { volumeId: v1 } })).status).toBe(202);
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.b)).json.volumeAttachments).toEqual([{ id: v1, serverId: s.id, volumeId: v1, device: '/dev/vdb' }]);
    expect((await volumeOf(env.b, v2)).status).toBe('available');
    expect((await volumeOf(env.b, v1)).status).toBe('in-use');
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${v1}`, env.b)).status).toBe(202);
  });

  it("Nova's 400/404s; a new disk the agent refuses puts the old one back", async () => {
    const s = await boot('swap-errors');
    const v1 = await newVolume(env.b, 'e-1');
    const v2 = await newVolume(env.b, 'e-2');
    expect((await attach(env.b, s.id, { volumeId: v1 })).status).toBe(200);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await swap(env.admin, s.id, v1, { volumeAttachment: { volumeId: unknown } })).status).toBe(400);
    expect((await swap(env.admin, s.id, unknown, { volumeAttachment: { volumeId: v2 } })).status).toBe(404);
    const notAttached = await swap(env.admin, s.id, v2, { volumeAttachment: { volumeId: v1 } });
    expect([notAttached.status, notAttached.json.itemNotFound?.message]).toEqual([404, 'The volume was either invalid or not attached to the instance.']);
    expect((await swap(env.admin, s.id, v1, { volumeAttachment: { volumeId: v2, device: '/dev/vdc' } })).status).toBe(400);
    expect((await swap(env.admin, s.id, v1, { volumeAttachment: {} })).status).toBe(400);
    expect((await swap(env.admin, s.id, v1, {})).status).toBe(400);
    // The new volume must be available and at least as large.
    const other = await boot('swap-other');
    const busy = await newVolume(env.b, 'busy');
    expect((await attach(env.b, other.id, { volumeId: busy })).status).toBe(200);
    expect((await swap(env.admin, s.id, v1, { volumeAttachment: { volumeId: busy } })).json.badRequest.message).toMatch(/must be available/);
    const big = (await cinder(env.b, 'POST', '/volumes', { volume: { size: 2 } })).json.volume.id as string;
    await waitUntil('big available', async () => (await volumeOf(env.b, big)).status === 'available', { timeoutMs: 20000, intervalMs: 100 });
    const bigServer = await boot('swap-big');
    expect((await attach(env.b, bigServer.id, { volumeId: big })).status).toBe(200);
    expect((await swap(env.admin, bigServer.id, big, { volumeAttachment: { volumeId: v2 } })).json.badRequest.message).toBe('Invalid volume: New volume must be the same size or larger.');

    const driver = env.drivers.get('va-1')!;
    const original = driver.attachDisk.bind(driver);
    driver.attachDisk = (id, disk) => (disk.serial === v2.slice(0, 20) ? Promise.reject(new Error('no more PCI slots')) : original(id, disk));
    try {
      expect((await swap(env.admin, s.id, v1, { volumeAttachment: { volumeId: v2 } })).status).toBe(500);
    } finally {
      driver.attachDisk = original;
    }
    expect((await disksOf(s.id)).map((d) => d.id)).toContain(`vol-${v1.slice(0, 23)}`);
    expect((await volumeOf(env.b, v1)).status).toBe('in-use');
    expect(await volumeOf(env.b, v2)).toMatchObject({ status: 'available', attachments: [] });
    expect((await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.b)).json.volumeAttachments).toEqual([{ id: v1, serverId: s.id, volumeId: v1, device: '/dev/vdb' }]);
    expect((await c.show(env.b, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
  });

  it('a swap interrupted by a crash is repaired by the reconciler: both volumes available, the old one with its data', async () => {
    const s = await boot('swap-crash');
    const v1 = await newVolume(env.b, 'c-1');
    const v2 = await newVolume(env.b, 'c-2');
    expect((await attach(env.b, s.id, { volumeId: v1 })).status).toBe(200);
    qemuIo(path.join(vol.dir, v1), 'write -P 0x77 0 64k');
    // What a dead API process leaves after the new volume was reserved: the task, the old entry detaching, the new one attaching.
    await env.svc.app.get(AmqpRpcTransport).client('volume').call('reserve', { volumeId: v2, projectId: env.b.id, serverId: s.id });
    const db = env.svc.app.get(Db);
    const [row] = await db.rows<{ volumes: Record<string, unknown>[] }>(`SELECT volumes FROM ${db.t('instance')} WHERE id = $1`, [s.id]);
    const oldEntry = row!.volumes[0]!;
    await db.exec(
      `UPDATE ${db.t('instance')} SET task_state = 'volume_swapping', task_updated_at = now() - interval '1 hour', task_started_at = now() - interval '1 hour', volumes = $2 WHERE id = $1`,
      [s.id, JSON.stringify([{ ...oldEntry, status: 'detaching' }, { ...oldEntry, volumeId: v2, attachmentId: null, status: 'attaching', path: null, format: null }])],
    );
    await env.svc.app.get(Reconciler).pass();
    expect((await volumeOf(env.b, v1)).status).toBe('available');
    expect((await volumeOf(env.b, v2)).status).toBe('available');
    qemuIo(path.join(vol.dir, v1), 'read -P 0x77 0 64k');
    expect((await disksOf(s.id)).map((d) => d.id).filter((d) => d.startsWith('vol-'))).toEqual([]);
    expect((await c.show(env.b, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
  });
});

describe('boot from volume (block_device_mapping_v2)', () => {
  it('boots from an existing volume: no image, the volume is the boot disk; it cannot be detached; delete_on_termination deletes it with the server', async () => {
    const v = await newVolume(env.a, 'root');
    // An empty volume is not bootable until someone says so (Cinder's os-set_bootable), as in Nova.
    expect((await cinder(env.a, 'POST', `/volumes/${v}/action`, { 'os-set_bootable': { bootable: true } })).status).toBe(200);
    const res = await c.boot(env.a, { name: 'bfv', imageRef: '', block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', boot_index: 0, uuid: v, delete_on_termination: true }] });
    expect(res.status).toBe(202);
    const s = await c.waitStatus(env.a, res.json.server.id, 'ACTIVE');
    expect(s.image).toBe('');
    expect(s['os-extended-volumes:volumes_attached']).toEqual([{ id: v }]);
    const disks = (await env.drivers.get('va-1')!.getInfo(s.id)).spec.disks;
    expect(disks.map((d) => [d.id, d.path, d.bootIndex])).toEqual([[`vol-${v.slice(0, 23)}`, path.join(vol.dir, v), 0]]);
    expect(await volumeOf(env.a, v)).toMatchObject({ status: 'in-use', attachments: [expect.objectContaining({ server_id: s.id, device: '/dev/vda' })] });
    const list = await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a);
    expectSchema('servers.list_volume_attachments', list);
    expect(list.json.volumeAttachments).toEqual([{ id: v, serverId: s.id, volumeId: v, device: '/dev/vda' }]);
    const det = await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${v}`, env.a);
    expect(det.status).toBe(400);
    expect(det.json.badRequest.message).toBe("Can't detach root device volume");

    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    await waitUntil('root volume deleted', async () => (await cinder(env.a, 'GET', `/volumes/${v}`)).status === 404, { timeoutMs: 10000, intervalMs: 100 });
    expect(fs.existsSync(path.join(vol.dir, v))).toBe(false);
  });

  it('boots from an image copied into a new volume (volume_size), with another volume attached at boot; the volumes stay after delete without delete_on_termination', async () => {
    // The fake image service's public image, made a real qcow2 so that the volume service can convert it.
    const imageFile = path.join(env.image.dataDir, env.image.publicId);
    fs.rmSync(imageFile, { force: true });
    await createImage(imageFile, { format: 'qcow2', sizeBytes: 1 << 20 });
    const extra = await newVolume(env.a, 'extra');
    const res = await c.boot(env.a, {
      name: 'bfv-image',
      block_device_mapping_v2: [
        { source_type: 'image', destination_type: 'volume', boot_index: 0, uuid: env.image.publicId, volume_size: 1 },
        { source_type: 'volume', destination_type: 'volume', uuid: extra },
      ],
    });
    expect(res.status).toBe(202);
    const s = await c.waitStatus(env.a, res.json.server.id, 'ACTIVE', 60000);
    const attached = s['os-extended-volumes:volumes_attached'].map((x: { id: string }) => x.id);
    expect(attached).toHaveLength(2);
    expect(attached[1]).toBe(extra);
    const root = attached[0] as string;
    expect(await volumeOf(env.a, root)).toMatchObject({ status: 'in-use', bootable: 'true', size: 1, volume_image_metadata: expect.objectContaining({ image_id: env.image.publicId }) });
    expect((await env.drivers.get('va-1')!.getInfo(s.id)).spec.disks.map((d) => [d.id, d.bootIndex])).toEqual([
      [`vol-${root.slice(0, 23)}`, 0],
      [`vol-${extra.slice(0, 23)}`, undefined],
    ]);
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    await waitUntil('volumes released', async () => (await volumeOf(env.a, root))?.status === 'available' && (await volumeOf(env.a, extra)).status === 'available', { timeoutMs: 10000, intervalMs: 100 });
  });

  it('refuses volumes that are in use, invisible or unknown (400), and max_count > 1 with a volume', async () => {
    const s = await c.bootActive(env.a, { name: 'holder' });
    const busy = await newVolume(env.a, 'busy');
    expect((await attach(env.a, s.id, { volumeId: busy })).status).toBe(200);
    const bdm = (uuid: string) => ({ name: 'x', imageRef: '', block_device_mapping_v2: [{ source_type: 'volume', destination_type: 'volume', boot_index: 0, uuid }] });
    const inUse = await c.boot(env.a, bdm(busy));
    expect(inUse.status).toBe(400);
    expect(inUse.json.badRequest.message).toMatch(/status must be available/);
    const theirs = await newVolume(env.b, 'theirs-root');
    expect((await c.boot(env.a, bdm(theirs))).json.badRequest.message).toMatch(/failed to get volume/);
    const free = await newVolume(env.a, 'free');
    const notBootable = await c.boot(env.a, bdm(free));
    expect(notBootable.status).toBe(400);
    expect(notBootable.json.badRequest.message).toBe(`Block Device ${free} is not bootable.`);
    expect((await c.boot(env.a, { ...bdm(free), min_count: 2 })).status).toBe(400);
    expect((await volumeOf(env.a, free)).status).toBe('available');
  });
});

describe('2.49: tagged volume attach', () => {
  const at = (minor: number) => ({ headers: { 'OpenStack-API-Version': `compute 2.${minor}` } });
  const tagOf = async (serverId: string, volumeId: string) => {
    const db = env.svc.app.get(Db);
    const [row] = await db.rows<{ volumes: { volumeId: string; tag?: string }[] }>(`SELECT volumes FROM ${db.t('instance')} WHERE id = $1`, [serverId]);
    return row!.volumes.find((x) => x.volumeId === volumeId)?.tag;
  };

  it('takes a device tag from 2.49 (400 below, bad tags 400), keeps it, shows it nowhere below 2.70; not on a shelved_offloaded server', async () => {
    const s = await c.bootActive(env.a, { name: 'tag49' });
    const vid = await newVolume(env.a);
    const below = await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid, tag: 'data' } }, ...at(48) });
    expect(below.status).toBe(400);
    expect(below.json.badRequest.message).toMatch(/'tag' was unexpected/);
    for (const bad of ['a/b', 'x'.repeat(61), '', 7]) {
      expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid, tag: bad } }, ...at(49) })).status).toBe(400);
    }
    expect((await volumeOf(env.a, vid)).status).toBe('available');

    const res = await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: vid, tag: 'data' } }, ...at(49) });
    expect(res.status).toBe(200);
    expectSchema('servers.attach_volume', res);
    expect(res.json.volumeAttachment).toEqual({ id: vid, serverId: s.id, volumeId: vid, device: '/dev/vdb' });
    expect(await tagOf(s.id, vid)).toBe('data');
    expectSchema('servers.list_volume_attachments', await c.r('GET', `/servers/${s.id}/os-volume_attachments`, env.a, at(49)));
    // Another project's server stays 404, with or without a tag.
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.b, { json: { volumeAttachment: { volumeId: vid, tag: 'x' } }, ...at(49) })).status).toBe(404);

    // Shelved offloaded: an untagged attach is fine (2.20), a tagged one is Nova's 400.
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    const v2 = await newVolume(env.a, 'shelved');
    const shelved = await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: v2, tag: 'late' } }, ...at(49) });
    expect(shelved.status).toBe(400);
    expect(shelved.json.badRequest.message).toBe('Tagged volume attachment is not supported for shelved-offloaded instances.');
    expect((await volumeOf(env.a, v2)).status).toBe('available');
    expect((await c.show(env.a, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
  });
});
