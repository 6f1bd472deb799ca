import { type TestService, waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, type Project, request, startComputeWithVolume } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Nova's volume proxy (os-volumes, os-snapshots; 2.1–2.35) against the real volume service
// (services/volume) in-process: compute calls its Cinder REST API with the caller's token
// (KUMO_VOLUME_URL) and its RPCs on compute's vhost for attachments.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
let stack: Awaited<ReturnType<typeof startComputeWithVolume>>;
let vol: { svc: TestService; dir: string };

beforeAll(async () => {
  stack = await startComputeWithVolume({ hosts: ['vp-1'] }, { KUMO_VOLUME_QUOTA_VOLUMES: '50', KUMO_VOLUME_QUOTA_GIGABYTES: '40' });
  env = stack.env;
  vol = { svc: stack.volume, dir: stack.dir };
  c = client(env);
}, 120000);
afterAll(async () => {
  await stack?.close();
});

const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}` } });
const v235 = at('2.35');
const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const cinder = (who: Project, method: string, url: string, json?: unknown) => request(vol.svc.url, method, `/v3/${who.id}${url}`, { token: who.token, json });
const nova = (who: Project, method: string, url: string, json?: unknown) => c.r(method, url, who, { ...v235, ...(json === undefined ? {} : { json }) });
const available = (who: Project, id: string) =>
  waitUntil(`volume ${id} available`, async () => {
    const res = await nova(who, 'GET', `/os-volumes/${id}`);
    return res.json.volume?.status === 'available' ? res.json.volume : undefined;
  }, { timeoutMs: 20000, intervalMs: 100 });

describe('os-volumes (2.1–2.35) over the volume service', () => {
  it('creates (200, Location), shows, lists and deletes volumes in Nova shapes; the volume service has them', async () => {
    const res = await nova(env.a, 'POST', '/os-volumes', { volume: { size: 1, display_name: 'nova-vol', display_description: 'made through nova', metadata: { Type: 'work' } } });
    expect(res.status).toBe(200);
    expectSchema('volumes.create_get_volume', res);
    const created = res.json.volume;
    expect(created).toMatchObject({ size: 1, displayName: 'nova-vol', displayDescription: 'made through nova', metadata: { Type: 'work' }, availabilityZone: 'nova', attachments: [{}], snapshotId: null, volumeType: '__DEFAULT__' });
    expect(res.headers.location).toMatch(new RegExp(`/v2\\.1/os-volumes/${created.id}$`));

    const shown = await available(env.a, created.id);
    expect(shown).toEqual({ ...created, status: 'available' });
    expectSchema('volumes.create_get_volume', await nova(env.a, 'GET', `/os-volumes/${created.id}`));
    expect((await cinder(env.a, 'GET', `/volumes/${created.id}`)).json.volume).toMatchObject({ name: 'nova-vol', size: 1, metadata: { Type: 'work' } });

    for (const url of ['/os-volumes', '/os-volumes/detail']) {
      const list = await nova(env.a, 'GET', url);
      expectSchema('volumes.list_volumes', list);
      // Tempest compares the listed volume with the shown one as dicts.
      expect(list.json.volumes).toContainEqual(shown);
    }

    expect((await nova(env.a, 'DELETE', `/os-volumes/${created.id}`)).status).toBe(202);
    await waitUntil('deleted', async () => (await nova(env.a, 'GET', `/os-volumes/${created.id}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
  });

  it('limit and offset over the whole list (Nova common.limited); bad values 400', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) ids.push((await nova(env.b, 'POST', '/os-volumes', { volume: { size: 1, display_name: `page-${n}` } })).json.volume.id);
    const all = (await nova(env.b, 'GET', '/os-volumes')).json.volumes.map((v: { id: string }) => v.id);
    expect([...all].sort()).toEqual([...ids].sort());
    expect((await nova(env.b, 'GET', '/os-volumes?limit=2')).json.volumes.map((v: { id: string }) => v.id)).toEqual(all.slice(0, 2));
    expect((await nova(env.b, 'GET', '/os-volumes/detail?offset=1&limit=1')).json.volumes.map((v: { id: string }) => v.id)).toEqual([all[1]]);
    expect((await nova(env.b, 'GET', '/os-volumes?offset=5')).json.volumes).toEqual([]);
    const bad = await nova(env.b, 'GET', '/os-volumes?limit=x');
    expect([bad.status, bad.json.badRequest?.message]).toEqual([400, 'limit param must be an integer']);
    expect((await nova(env.b, 'GET', '/os-volumes?offset=-1')).json.badRequest.message).toBe('offset param must be positive');
    for (const id of ids) await available(env.b, id);
    for (const id of ids) expect((await nova(env.b, 'DELETE', `/os-volumes/${id}`)).status).toBe(202);
  });

  it("an attached volume shows its server and device; deleting it is refused (400, the volume service's reason)", async () => {
    const s = await c.bootActive(env.a, { name: 'proxy-att' });
    const id = (await nova(env.a, 'POST', '/os-volumes', { volume: { size: 1 } })).json.volume.id;
    await available(env.a, id);
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: id } } })).status).toBe(200);
    const shown = await nova(env.a, 'GET', `/os-volumes/${id}`);
    expectSchema('volumes.create_get_volume', shown);
    expect(shown.json.volume).toMatchObject({ status: 'in-use', attachments: [{ id, volumeId: id, serverId: s.id, device: '/dev/vdb' }] });
    const del = await nova(env.a, 'DELETE', `/os-volumes/${id}`);
    expect(del.status).toBe(400);
    expect(del.json.badRequest.message).toMatch(/Invalid volume/);
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${id}`, env.a)).status).toBe(202);
    expect((await nova(env.a, 'DELETE', `/os-volumes/${id}`)).status).toBe(202);
  });

  it("Nova's 400/403/404: bad bodies, over quota, unknown or empty ids", async () => {
    for (const volume of [{ size: '#$%' }, { size: '' }, { size: 0 }, { display_name: 'no-size' }, { size: 1, bogus: true }, { size: 1, display_name: 5 }, { size: 1, metadata: 'x' }]) {
      const res = await nova(env.a, 'POST', '/os-volumes', { volume });
      expect([JSON.stringify(volume), res.status]).toEqual([JSON.stringify(volume), 400]);
      expect(res.json.badRequest.message).toMatch(/Invalid input/);
    }
    // A "0" string passes Nova's schema; the volume service refuses the size.
    expect((await nova(env.a, 'POST', '/os-volumes', { volume: { size: '0' } })).status).toBe(400);
    expect((await nova(env.a, 'POST', '/os-volumes', {})).status).toBe(400);
    const quota = await nova(env.a, 'POST', '/os-volumes', { volume: { size: 41 } });
    expect([quota.status, quota.json.forbidden?.message]).toEqual([403, expect.stringMatching(/quota/)]);
    const unknown = '00000000-0000-4000-8000-000000000000';
    const show = await nova(env.a, 'GET', `/os-volumes/${unknown}`);
    expect([show.status, show.json.itemNotFound?.message]).toEqual([404, `Volume ${unknown} could not be found.`]);
    expect((await nova(env.a, 'DELETE', `/os-volumes/${unknown}`)).status).toBe(404);
    expect((await nova(env.a, 'DELETE', '/os-volumes/invalid-id')).status).toBe(404);
    expect((await nova(env.a, 'GET', '/os-volumes/')).status).toBe(404);
    expect((await nova(env.a, 'DELETE', '/os-volumes/')).status).toBe(404);
  });

  it('another project sees none of our volumes (404, not listed); a reader lists and shows but may not create or delete (403)', async () => {
    const id = (await nova(env.a, 'POST', '/os-volumes', { volume: { size: 1, display_name: 'mine' } })).json.volume.id;
    await available(env.a, id);
    expect((await nova(env.b, 'GET', `/os-volumes/${id}`)).status).toBe(404);
    expect((await nova(env.b, 'DELETE', `/os-volumes/${id}`)).status).toBe(404);
    expect((await nova(env.b, 'GET', '/os-volumes/detail')).json.volumes.map((v: { id: string }) => v.id)).not.toContain(id);
    expect((await nova(env.readerA, 'GET', '/os-volumes')).json.volumes.map((v: { id: string }) => v.id)).toContain(id);
    expect((await nova(env.readerA, 'GET', `/os-volumes/${id}`)).status).toBe(200);
    expect((await nova(env.readerA, 'POST', '/os-volumes', { volume: { size: 1 } })).status).toBe(403);
    expect((await nova(env.readerA, 'DELETE', `/os-volumes/${id}`)).status).toBe(403);
    expect((await nova(env.a, 'GET', `/os-volumes/${id}`)).json.volume.status).toBe('available');
    expect((await nova(env.a, 'DELETE', `/os-volumes/${id}`)).status).toBe(202);
  });

  it('os-snapshots: create, show, list, detail and delete in Nova shapes; force for an attached volume; errors', async () => {
    const id = (await nova(env.a, 'POST', '/os-volumes', { volume: { size: 1, display_name: 'snap-src' } })).json.volume.id;
    await available(env.a, id);
    const res = await nova(env.a, 'POST', '/os-snapshots', { snapshot: { volume_id: id, display_name: 'nova-snap', display_description: 'via nova' } });
    expect(res.status).toBe(200);
    expectSchema('snapshots.create_get_snapshot', res);
    const snap = res.json.snapshot;
    expect(snap).toMatchObject({ volumeId: id, size: 1, displayName: 'nova-snap', displayDescription: 'via nova', status: 'creating' });
    const shown = await waitUntil('snapshot available', async () => {
      const r = await nova(env.a, 'GET', `/os-snapshots/${snap.id}`);
      return r.json.snapshot?.status === 'available' ? r : undefined;
    }, { timeoutMs: 20000, intervalMs: 100 });
    expectSchema('snapshots.create_get_snapshot', shown);
    expect(shown.json.snapshot).toEqual({ ...snap, status: 'available' });
    for (const url of ['/os-snapshots', '/os-snapshots/detail']) {
      const list = await nova(env.a, 'GET', url);
      expectSchema('snapshots.list_snapshots', list);
      expect(list.json.snapshots).toContainEqual(shown.json.snapshot);
    }
    expect((await nova(env.a, 'GET', '/os-snapshots?limit=x')).status).toBe(400);
    // The volume service keeps a volume with snapshots.
    expect((await nova(env.a, 'DELETE', `/os-volumes/${id}`)).json.badRequest.message).toMatch(/dependent snapshots/);
    // Another project and a reader.
    expect((await nova(env.b, 'GET', `/os-snapshots/${snap.id}`)).status).toBe(404);
    expect((await nova(env.b, 'DELETE', `/os-snapshots/${snap.id}`)).status).toBe(404);
    expect((await nova(env.b, 'POST', '/os-snapshots', { snapshot: { volume_id: id } })).status).toBe(404);
    expect((await nova(env.readerA, 'GET', '/os-snapshots')).status).toBe(200);
    expect((await nova(env.readerA, 'POST', '/os-snapshots', { snapshot: { volume_id: id } })).status).toBe(403);
    expect((await nova(env.readerA, 'DELETE', `/os-snapshots/${snap.id}`)).status).toBe(403);
    // Nova's schema: volume_id required, no other keys, force a boolean.
    for (const snapshot of [{}, { volume_id: id, size: 1 }, { volume_id: id, force: 'maybe' }, { volume_id: 5 }]) {
      expect([JSON.stringify(snapshot), (await nova(env.a, 'POST', '/os-snapshots', { snapshot })).status]).toEqual([JSON.stringify(snapshot), 400]);
    }
    expect((await nova(env.a, 'GET', '/os-snapshots/00000000-0000-4000-8000-000000000000')).json.itemNotFound.message).toBe('Snapshot 00000000-0000-4000-8000-000000000000 could not be found.');
    expect((await nova(env.a, 'GET', '/os-snapshots/')).status).toBe(404);

    // An attached volume: refused without force, copied with it.
    const s = await c.bootActive(env.a, { name: 'snap-att' });
    expect((await c.r('POST', `/servers/${s.id}/os-volume_attachments`, env.a, { json: { volumeAttachment: { volumeId: id } } })).status).toBe(200);
    expect((await nova(env.a, 'POST', '/os-snapshots', { snapshot: { volume_id: id } })).status).toBe(400);
    const forced = await nova(env.a, 'POST', '/os-snapshots', { snapshot: { volume_id: id, force: 'True' } });
    expect(forced.status).toBe(200);
    await waitUntil('forced snapshot available', async () => (await nova(env.a, 'GET', `/os-snapshots/${forced.json.snapshot.id}`)).json.snapshot?.status === 'available', { timeoutMs: 20000, intervalMs: 100 });

    for (const sid of [snap.id, forced.json.snapshot.id]) {
      expect((await nova(env.a, 'DELETE', `/os-snapshots/${sid}`)).status).toBe(202);
      await waitUntil('snapshot gone', async () => (await nova(env.a, 'GET', `/os-snapshots/${sid}`)).status === 404, { timeoutMs: 20000, intervalMs: 100 });
    }
    expect((await c.r('DELETE', `/servers/${s.id}/os-volume_attachments/${id}`, env.a)).status).toBe(202);
    expect((await nova(env.a, 'DELETE', `/os-volumes/${id}`)).status).toBe(202);
  });

  it('is gone from 2.36 (404 on every path), as Nova', async () => {
    for (const [method, url] of [['GET', '/os-volumes'], ['GET', '/os-volumes/detail'], ['POST', '/os-volumes'], ['GET', '/os-snapshots'], ['POST', '/os-snapshots']] as const) {
      const res = await c.r(method, url, env.a, { ...at('2.36'), json: method === 'POST' ? { volume: { size: 1 } } : undefined });
      expect([url, res.status]).toEqual([url, 404]);
    }
  });
});
