import fs from 'node:fs';
import path from 'node:path';
import { imageInfo } from '@kumo/hypervisor';
import { waitUntil } from '@kumo/service-kit/testing';
import { call, startVolumeEnv, type VolumeEnv } from './helpers.js';

/** The Cinder v3 volume API against real PostgreSQL, RabbitMQ and qemu-img. */
let env: VolumeEnv;
const GIB = 1024 ** 3;

beforeAll(async () => {
  env = await startVolumeEnv({ KUMO_VOLUME_QUOTA_VOLUMES: '5', KUMO_VOLUME_QUOTA_GIGABYTES: '8' });
}, 60000);
afterAll(async () => {
  await env?.close();
});

async function until(id: string, status: string) {
  let last: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  await waitUntil(`volume ${id} ${status}`, async () => {
    last = (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json?.volume;
    return last?.status === status;
  }, { timeoutMs: 20000, intervalMs: 100 });
  return last;
}

describe('volume lifecycle', () => {
  let id: string;

  it('create answers 202 creating, then the volume becomes available with a qcow2 file of its size', async () => {
    const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, {
      volume: { size: 1, name: 'vol1', description: 'd', volume_type: null, availability_zone: null, metadata: { a: 'b' }, imageRef: null, snapshot_id: null, source_volid: null },
    });
    expect(res.status).toBe(202);
    expect(res.json.volume).toMatchObject({ name: 'vol1', description: 'd', size: 1, status: 'creating', metadata: { a: 'b' }, volume_type: '__DEFAULT__', bootable: 'false', attachments: [] });
    // Create answers without the attribute extensions (Tempest's create_volume schema forbids them).
    expect(res.json.volume).not.toHaveProperty('os-vol-tenant-attr:tenant_id');
    expect(res.json.volume).not.toHaveProperty('volume_type_id');
    id = res.json.volume.id;
    const v = await until(id, 'available');
    expect(v['os-vol-tenant-attr:tenant_id']).toBe(env.a.id);
    expect(v).not.toHaveProperty('os-vol-host-attr:host');
    expect(v.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const info = await imageInfo(path.join(env.dir, id), { format: 'qcow2' });
    expect(info['virtual-size']).toBe(GIB);
  });

  it('lists (summary and detail), filters by name and shows', async () => {
    const list = await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes`);
    expect(list.status).toBe(200);
    expect(list.json.volumes).toEqual([{ id, name: 'vol1', links: expect.any(Array) }]);
    const detail = await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/detail?name=vol1`);
    expect(detail.json.volumes).toHaveLength(1);
    expect(detail.json.volumes[0]).toMatchObject({ id, status: 'available', size: 1 });
    expect((await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/detail?name=nope`)).json.volumes).toEqual([]);
  });

  it('updates name (display_name alias), description and metadata', async () => {
    const res = await call(env, env.a, 'PUT', `/v3/${env.a.id}/volumes/${id}`, { volume: { display_name: 'vol1b', description: 'new' } });
    expect(res.status).toBe(200);
    expect(res.json.volume).toMatchObject({ name: 'vol1b', description: 'new', metadata: { a: 'b' } });
    const md = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes/${id}/metadata`, { metadata: { c: 'd' } });
    expect(md.json).toEqual({ metadata: { a: 'b', c: 'd' } });
    const put = await call(env, env.a, 'PUT', `/v3/${env.a.id}/volumes/${id}/metadata`, { metadata: { x: 'y' } });
    expect(put.json).toEqual({ metadata: { x: 'y' } });
  });

  it('os-extend grows the file; shrinking or a bad size is 400', async () => {
    expect((await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes/${id}/action`, { 'os-extend': { new_size: 2 } })).status).toBe(202);
    expect((await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json.volume.size).toBe(2);
    expect((await imageInfo(path.join(env.dir, id), { format: 'qcow2' }))['virtual-size']).toBe(2 * GIB);
    for (const new_size of [1, 'abc', null]) {
      const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes/${id}/action`, { 'os-extend': { new_size } });
      expect(res.status).toBe(400);
      expect(res.json.badRequest.code).toBe(400);
    }
  });

  it('deletes (202): the file goes, the volume answers 404 afterwards', async () => {
    expect((await call(env, env.a, 'DELETE', `/v3/${env.a.id}/volumes/${id}`)).status).toBe(202);
    await waitUntil('gone', async () => (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).status === 404, { timeoutMs: 10000, intervalMs: 100 });
    expect(fs.existsSync(path.join(env.dir, id))).toBe(false);
    const res = await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`);
    expect(res.json).toEqual({ itemNotFound: { code: 404, message: `Volume ${id} could not be found.` } });
    expect((await call(env, env.a, 'DELETE', `/v3/${env.a.id}/volumes/${id}`)).status).toBe(404);
  });
});

describe('bad input and limits', () => {
  it.each([['#$%'], [''], ['0'], ['-1'], [1.5], [undefined]])('size %p is 400', async (size) => {
    const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size } });
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toMatch(/size/);
  });

  it('an unknown volume type is 404, a missing body 400, an unknown action 400', async () => {
    expect((await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size: 1, volume_type: 'b1d8e8a6-2f0f-4d0e-9a53-000000000000' } })).status).toBe(404);
    expect((await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { size: 1 })).json.badRequest.code).toBe(400);
    expect((await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/not-a-uuid`)).status).toBe(404);
  });

  it('volume types: __DEFAULT__ is the only one', async () => {
    const res = await call(env, env.a, 'GET', `/v3/${env.a.id}/types`);
    expect(res.json.volume_types.map((t: { name: string }) => t.name)).toEqual(['__DEFAULT__']);
    expect((await call(env, env.a, 'GET', `/v3/${env.a.id}/types/default`)).json.volume_type.name).toBe('__DEFAULT__');
  });

  it('quota: gigabytes and volume count are 413 overLimit, checked at create', async () => {
    const big = await call(env, env.b, 'POST', `/v3/${env.b.id}/volumes`, { volume: { size: 9 } });
    expect(big.status).toBe(413);
    expect(big.json.overLimit.message).toMatch(/gigabytes quota/);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await call(env, env.b, 'POST', `/v3/${env.b.id}/volumes`, { volume: { size: 1 } });
      expect(r.status).toBe(202);
      ids.push(r.json.volume.id);
    }
    const sixth = await call(env, env.b, 'POST', `/v3/${env.b.id}/volumes`, { volume: { size: 1 } });
    expect(sixth.status).toBe(413);
    expect(sixth.json.overLimit.message).toMatch(/Maximum number of volumes allowed \(5\)/);
    for (const id of ids) {
      await waitUntil('available', async () => (await call(env, env.b, 'GET', `/v3/${env.b.id}/volumes/${id}`)).json.volume.status === 'available', { timeoutMs: 20000, intervalMs: 100 });
      expect((await call(env, env.b, 'DELETE', `/v3/${env.b.id}/volumes/${id}`)).status).toBe(202);
    }
  });
});

describe('microversions', () => {
  const get = (version?: string) =>
    fetch(new URL(`/v3/${env.a.id}/volumes`, env.url), { headers: { 'x-auth-token': env.a.token, ...(version ? { 'openstack-api-version': version } : {}) } });

  it('echoes the negotiated volume microversion on every /v3 response (Tempest checks it)', async () => {
    for (const asked of [undefined, 'volume 3.0', 'volume latest']) {
      const res = await get(asked);
      expect(res.status).toBe(200);
      expect(res.headers.get('openstack-api-version')).toBe('volume 3.0');
      expect(res.headers.get('vary')).toMatch(/OpenStack-API-Version/);
    }
  });

  it('refuses versions it does not serve: 406 out of range, 400 malformed', async () => {
    const high = await get('volume 3.70');
    expect(high.status).toBe(406);
    expect(((await high.json()) as { computeFault: { message: string } }).computeFault.message).toMatch(/Version 3.70 is not supported by the API. Minimum is 3.0 and maximum is 3.0/);
    const bad = await get('volume three');
    expect(bad.status).toBe(400);
  });
});
