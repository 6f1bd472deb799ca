import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Db } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import { Reconciler } from '../src/lifecycle/reconciler.js';
import { call, type Project, startVolumeEnv, type VolumeEnv } from './helpers.js';

/** Cinder's /snapshots against real PostgreSQL and qemu-img: each snapshot is a full qcow2 copy of its volume. */
let env: VolumeEnv;

beforeAll(async () => {
  env = await startVolumeEnv({ KUMO_VOLUME_QUOTA_SNAPSHOTS: '3', KUMO_VOLUME_QUOTA_GIGABYTES: '10' });
}, 60000);
afterAll(async () => {
  await env?.close();
});

const api = (who: Project, method: string, url: string, body?: unknown) => call(env, who, method, `/v3/${who.id}${url}`, body);
const qemuIo = (file: string, cmd: string) => execFileSync('qemu-io', ['-f', 'qcow2', '-c', cmd, file]);
const snapshotOf = async (who: Project, id: string) => (await api(who, 'GET', `/snapshots/${id}`)).json?.snapshot;
async function volume(who: Project, size = 1): Promise<string> {
  const res = await api(who, 'POST', '/volumes', { volume: { size } });
  expect(res.status).toBe(202);
  const id = res.json.volume.id as string;
  await waitUntil(`volume ${id} available`, async () => (await api(who, 'GET', `/volumes/${id}`)).json.volume.status === 'available', { timeoutMs: 20000, intervalMs: 100 });
  return id;
}
async function snapshotAvailable(who: Project, id: string) {
  return waitUntil(`snapshot ${id} available`, async () => {
    const s = await snapshotOf(who, id);
    return s?.status === 'available' ? s : undefined;
  }, { timeoutMs: 20000, intervalMs: 100 });
}

describe('volume snapshots', () => {
  it('create (202 creating) -> available with a qcow2 copy of the volume; show, list, detail; the volume cannot be deleted meanwhile; delete removes the copy', async () => {
    const vid = await volume(env.a);
    const res = await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid, display_name: 'snap1', description: 'first', metadata: { k: 'v' } } });
    expect(res.status).toBe(202);
    expect(res.json.snapshot).toEqual({
      id: expect.any(String), created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/), updated_at: expect.any(String),
      name: 'snap1', description: 'first', volume_id: vid, status: 'creating', size: 1, metadata: { k: 'v' },
    });
    const sid = res.json.snapshot.id as string;
    const shown = await snapshotAvailable(env.a, sid);
    expect(shown).toMatchObject({ id: sid, status: 'available', 'os-extended-snapshot-attributes:progress': '100%', 'os-extended-snapshot-attributes:project_id': env.a.id });
    const copy = path.join(env.dir, 'snapshots', sid);
    // Same guest-visible content and size as the volume (qemu-img compare exits 0).
    execFileSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', path.join(env.dir, vid), copy]);

    const list = await api(env.a, 'GET', '/snapshots');
    expect(list.json.snapshots.map((s: { id: string }) => s.id)).toContain(sid);
    expect(list.json.snapshots[0]).not.toHaveProperty('os-extended-snapshot-attributes:progress');
    expect((await api(env.a, 'GET', '/snapshots/detail')).json.snapshots.find((s: { id: string }) => s.id === sid)).toEqual(shown);
    expect((await api(env.a, 'GET', `/snapshots/detail?volume_id=${vid}`)).json.snapshots).toHaveLength(1);

    const blocked = await api(env.a, 'DELETE', `/volumes/${vid}`);
    expect([blocked.status, blocked.json.badRequest?.message]).toEqual([400, `Invalid volume: Volume ${vid} still has 1 dependent snapshots.`]);

    expect((await api(env.a, 'DELETE', `/snapshots/${sid}`)).status).toBe(202);
    await waitUntil('snapshot gone', async () => (await api(env.a, 'GET', `/snapshots/${sid}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
    expect(fs.existsSync(copy)).toBe(false);
    expect((await api(env.a, 'DELETE', `/volumes/${vid}`)).status).toBe(202);
  });

  it('refuses bad input (400), unknown or invisible volumes and snapshots (404), readers (403), and counts the snapshots and gigabytes quotas (413)', async () => {
    const vid = await volume(env.a);
    // Cinder: no volume_id is a volume that cannot be found.
    expect((await api(env.a, 'POST', '/snapshots', { snapshot: {} })).status).toBe(404);
    expect((await api(env.a, 'POST', '/snapshots', {})).status).toBe(400);
    expect((await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid, force: 'maybe' } })).status).toBe(400);
    const unknown = await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: randomUUID() } });
    expect(unknown.status).toBe(404);
    expect((await api(env.b, 'POST', '/snapshots', { snapshot: { volume_id: vid } })).status).toBe(404);
    expect((await api(env.readerA, 'POST', '/snapshots', { snapshot: { volume_id: vid } })).status).toBe(403);

    const sid = (await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid } })).json.snapshot.id as string;
    await snapshotAvailable(env.a, sid);
    expect((await api(env.b, 'GET', `/snapshots/${sid}`)).status).toBe(404);
    expect((await api(env.b, 'DELETE', `/snapshots/${sid}`)).status).toBe(404);
    expect((await api(env.b, 'GET', '/snapshots/detail')).json.snapshots).toEqual([]);
    expect((await api(env.readerA, 'GET', `/snapshots/${sid}`)).status).toBe(200);
    expect((await api(env.readerA, 'DELETE', `/snapshots/${sid}`)).status).toBe(403);
    expect((await api(env.a, 'GET', '/snapshots/not-a-uuid')).status).toBe(404);

    // Quotas: 3 snapshots; gigabytes 10 count volumes and snapshots (1 + 1 + a 5 GB volume: its snapshot does not fit).
    const big = await volume(env.a, 5);
    const over = await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: big } });
    expect([over.status, over.json.overLimit?.message]).toEqual([413, expect.stringMatching(/^VolumeSizeExceedsAvailableQuota/)]);
    expect((await api(env.a, 'DELETE', `/volumes/${big}`)).status).toBe(202);
    await waitUntil('big volume gone', async () => (await api(env.a, 'GET', `/volumes/${big}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
    const ids = [sid];
    for (let n = 0; n < 2; n++) ids.push((await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid } })).json.snapshot.id);
    const many = await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid } });
    expect([many.status, many.json.overLimit?.message]).toEqual([413, expect.stringMatching(/^SnapshotLimitExceeded/)]);
    for (const id of ids) await snapshotAvailable(env.a, id);
    for (const id of ids) expect((await api(env.a, 'DELETE', `/snapshots/${id}`)).status).toBe(202);
    for (const id of ids) await waitUntil(`snapshot ${id} gone`, async () => (await api(env.a, 'GET', `/snapshots/${id}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
  });

  it('sort, offset and marker (404 when unknown); update of name and description; a volume made from a snapshot has its data, at least its size', async () => {
    const vid = await volume(env.b);
    qemuIo(path.join(env.dir, vid), 'write -P 0x3c 0 64k');
    const ids: string[] = [];
    for (const name of ['b-snap', 'a-snap', 'c-snap']) ids.push((await api(env.b, 'POST', '/snapshots', { snapshot: { volume_id: vid, name } })).json.snapshot.id);
    for (const id of ids) await snapshotAvailable(env.b, id);
    const names = async (q: string) => (await api(env.b, 'GET', `/snapshots${q}`)).json.snapshots.map((s: { name: string }) => s.name);
    expect(await names('?sort_key=display_name&sort_dir=asc')).toEqual(['a-snap', 'b-snap', 'c-snap']);
    expect(await names('?sort=name:desc')).toEqual(['c-snap', 'b-snap', 'a-snap']);
    expect(await names('?sort_key=created_at&sort_dir=asc&offset=1&limit=1')).toEqual(['a-snap']);
    expect(await names(`/detail?sort_key=created_at&sort_dir=asc&marker=${ids[0]}`)).toEqual(['a-snap', 'c-snap']);
    expect((await api(env.b, 'GET', '/snapshots?sort_key=invalid')).status).toBe(400);
    expect((await api(env.b, 'GET', `/snapshots?marker=${randomUUID()}`)).status).toBe(404);

    const upd = await api(env.b, 'PUT', `/snapshots/${ids[0]}`, { snapshot: { name: 'renamed', display_description: 'new words' } });
    expect([upd.status, upd.json.snapshot.name, upd.json.snapshot.description]).toEqual([200, 'renamed', 'new words']);
    expect((await snapshotOf(env.b, ids[0]!)).name).toBe('renamed');
    expect((await api(env.a, 'PUT', `/snapshots/${ids[0]}`, { snapshot: { name: 'x' } })).status).toBe(404);

    expect((await api(env.b, 'POST', '/volumes', { volume: { snapshot_id: ids[0], size: 0 } })).status).toBe(400);
    expect((await api(env.b, 'POST', '/volumes', { volume: { snapshot_id: randomUUID() } })).status).toBe(404);
    const made = await api(env.b, 'POST', '/volumes', { volume: { snapshot_id: ids[0] } });
    expect(made.status).toBe(202);
    const grown = await api(env.b, 'POST', '/volumes', { volume: { snapshot_id: ids[0], size: 2 } });
    for (const [res, size] of [[made, 1], [grown, 2]] as const) {
      const id = res.json.volume.id as string;
      await waitUntil(`volume ${id} available`, async () => (await api(env.b, 'GET', `/volumes/${id}`)).json.volume.status === 'available', { timeoutMs: 20000, intervalMs: 100 });
      expect((await api(env.b, 'GET', `/volumes/${id}`)).json.volume).toMatchObject({ snapshot_id: ids[0], size });
      qemuIo(path.join(env.dir, id), 'read -P 0x3c 0 64k');
      expect((await api(env.b, 'DELETE', `/volumes/${id}`)).status).toBe(202);
    }
    for (const id of ids) expect((await api(env.b, 'DELETE', `/snapshots/${id}`)).status).toBe(202);
  });

  it('metadata: merge, replace, one key shown, set and removed; another project 404, a reader 403', async () => {
    const vid = await volume(env.a);
    const sid = (await api(env.a, 'POST', '/snapshots', { snapshot: { volume_id: vid, metadata: { a: '1' } } })).json.snapshot.id as string;
    await snapshotAvailable(env.a, sid);
    const merged = await api(env.a, 'POST', `/snapshots/${sid}/metadata`, { metadata: { b: '2' } });
    expect([merged.status, merged.json.metadata]).toEqual([200, { a: '1', b: '2' }]);
    expect((await api(env.a, 'PUT', `/snapshots/${sid}/metadata`, { metadata: { c: '3', d: '4' } })).json.metadata).toEqual({ c: '3', d: '4' });
    expect((await api(env.a, 'GET', `/snapshots/${sid}/metadata/c`)).json).toEqual({ meta: { c: '3' } });
    expect((await api(env.a, 'GET', `/snapshots/${sid}/metadata/zz`)).status).toBe(404);
    expect((await api(env.a, 'PUT', `/snapshots/${sid}/metadata/c`, { meta: { c: '33' } })).json).toEqual({ meta: { c: '33' } });
    expect((await api(env.a, 'PUT', `/snapshots/${sid}/metadata/c`, { meta: { other: 'x' } })).status).toBe(400);
    expect((await api(env.a, 'DELETE', `/snapshots/${sid}/metadata/d`)).status).toBe(200);
    expect((await api(env.a, 'GET', `/snapshots/${sid}/metadata`)).json.metadata).toEqual({ c: '33' });
    expect((await snapshotOf(env.a, sid)).metadata).toEqual({ c: '33' });
    expect((await api(env.b, 'POST', `/snapshots/${sid}/metadata`, { metadata: { x: 'y' } })).status).toBe(404);
    expect((await api(env.readerA, 'POST', `/snapshots/${sid}/metadata`, { metadata: { x: 'y' } })).status).toBe(403);
    expect((await api(env.readerA, 'GET', `/snapshots/${sid}/metadata`)).status).toBe(200);
    expect((await api(env.a, 'DELETE', `/snapshots/${sid}`)).status).toBe(202);
  });

  it('the reconciler turns a snapshot whose creator died into error and finishes a removal a crash interrupted', async () => {
    const vid = await volume(env.a);
    const db = env.svc.app.get(Db);
    const stuck = randomUUID();
    const deleting = randomUUID();
    await db.exec(`INSERT INTO ${db.t('volume_snapshot')} (id, volume_id, project_id, size, status, create_owner) VALUES ($1, $2, $3, 1, 'creating', $4)`, [stuck, vid, env.a.id, `${os.hostname()}:4194305:deadbeef`]);
    await db.exec(`INSERT INTO ${db.t('volume_snapshot')} (id, volume_id, project_id, size, status, updated_at) VALUES ($1, $2, $3, 1, 'deleting', now() - interval '5 minutes')`, [deleting, vid, env.a.id]);
    await env.svc.app.get(Reconciler).run();
    expect(await snapshotOf(env.a, stuck)).toMatchObject({ status: 'error' });
    expect((await api(env.a, 'GET', `/snapshots/${deleting}`)).status).toBe(404);
    // An errored snapshot can be deleted; then the volume can go.
    expect((await api(env.a, 'DELETE', `/snapshots/${stuck}`)).status).toBe(202);
    await waitUntil('gone', async () => (await api(env.a, 'GET', `/snapshots/${stuck}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
    expect((await api(env.a, 'DELETE', `/volumes/${vid}`)).status).toBe(202);
  });
});
