import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// createBackup (Nova's os-create-backup): a snapshot through the createImage path with
// image_type=backup, then the rotation of the server's older backups of that type, through the
// API, the conductor, an in-process agent on a FakeDriver and the image service's stand-in.
let env: ComputeEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['bk-1'] });
  c = client(env);
});
afterAll(() => env?.close());

const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}` } });
const backup = (id: string, body: Record<string, unknown>, who = env.a, version = '2.1') => c.r('POST', `/servers/${id}/action`, who, { ...at(version), json: { createBackup: body } });
/** The server's backups of a type in the image service, oldest first. */
const backupsOf = (serverId: string, type: string) =>
  [...env.image.images.values()].filter((i) => i.properties.image_type === 'backup' && i.properties.backup_type === type && i.properties.instance_uuid === serverId).map((i) => i.name);

describe('createBackup', () => {
  it('keeps the newest `rotation` backups of a type: the oldest goes once the new one is filled', async () => {
    const s = await c.bootActive(env.a, { name: 'bk' });
    const ids: string[] = [];
    for (const name of ['b1', 'b2', 'b3']) {
      const r = await backup(s.id, { name, backup_type: 'daily', rotation: 2, metadata: { k: 'v' } });
      expect(r.status).toBe(202);
      expect(r.text).toBe('');
      // Below 2.45 the image's proxy URL is in Location (rotation > 0).
      expect(r.headers.location).toMatch(new RegExp(`^${env.url}/v2.1/images/[0-9a-f-]{36}$`));
      const id = r.headers.location!.split('/').pop()!;
      ids.push(id);
      expect(env.image.images.get(id)).toMatchObject({ name, owner: env.a.id, properties: expect.objectContaining({ image_type: 'backup', backup_type: 'daily', instance_uuid: s.id, user_id: env.a.userId, k: 'v' }) });
      const shown = await c.show(env.a, s.id);
      expect(shown.json.server['OS-EXT-STS:task_state']).toBe('image_backup');
      await c.waitStatus(env.a, s.id, 'ACTIVE');
      expect(env.image.images.get(id)!.status).toBe('active');
    }
    await waitUntil('b1 rotated away', async () => env.image.deleted.includes(ids[0]!));
    expect(backupsOf(s.id, 'daily')).toEqual(['b2', 'b3']);
    expect(env.image.deleted).not.toContain(ids[1]);
    const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a)).json.instanceActions.map((a: { action: string }) => a.action);
    expect(actions.filter((a: string) => a === 'createBackup')).toHaveLength(3);

    // Another type is rotated on its own; the daily ones stay.
    expect((await backup(s.id, { name: 'w1', backup_type: 'weekly', rotation: '1' })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await backup(s.id, { name: 'w2', backup_type: 'weekly', rotation: 1 })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    await waitUntil('w1 rotated away', async () => backupsOf(s.id, 'weekly').length === 1);
    expect(backupsOf(s.id, 'weekly')).toEqual(['w2']);
    expect(backupsOf(s.id, 'daily')).toEqual(['b2', 'b3']);
  });

  it('lets the request’s metadata override the snapshot properties, as Nova’s create_image (createImage too)', async () => {
    const s = await c.bootActive(env.a, { name: 'bk-meta' });
    // The snapshot keeps the base image's min_ram (Tempest's test_create_delete_image compares them).
    const baseImage = env.image.images.get(env.image.publicId)!;
    baseImage.minRam = 64;
    let img;
    try {
      img = await c.action(env.a, s.id, { createImage: { name: 'typed', metadata: { image_type: 'test' } } });
    } finally {
      baseImage.minRam = 0;
    }
    expect(img.status).toBe(202);
    expect(env.image.images.get(img.headers.location!.split('/').pop()!)).toMatchObject({ minRam: 64, properties: expect.objectContaining({ image_type: 'test', instance_uuid: s.id }) });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const b = await backup(s.id, { name: 'typed-b', backup_type: 'daily', rotation: 3, metadata: { backup_type: 'ignored', k: 'v' } });
    expect(env.image.images.get(b.headers.location!.split('/').pop()!)!.properties).toMatchObject({ image_type: 'backup', backup_type: 'daily', k: 'v' });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
  });

  it('rotation 0 deletes every backup of the type, the new one too, and answers without Location', async () => {
    const s = await c.bootActive(env.a, { name: 'bk0' });
    expect((await backup(s.id, { name: 'm1', backup_type: 'monthly', rotation: 5 })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const r = await backup(s.id, { name: 'm2', backup_type: 'monthly', rotation: 0 });
    expect(r.status).toBe(202);
    expect(r.headers.location).toBeUndefined();
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    await waitUntil('all monthly backups gone', async () => backupsOf(s.id, 'monthly').length === 0);
  });

  it('2.45: answers {"image_id"} (Tempest schema) without Location, whatever the rotation', async () => {
    const s = await c.bootActive(env.a, { name: 'bk45' });
    const r = await backup(s.id, { name: 'n45', backup_type: 'daily', rotation: 1 }, env.a, '2.45');
    expect(tempestErrors('v2_45/servers.create_backup', r.status, r.json)).toEqual([]);
    expect(r.headers.location).toBeUndefined();
    expect(env.image.images.get(r.json.image_id)).toMatchObject({ name: 'n45', properties: expect.objectContaining({ image_type: 'backup', instance_uuid: s.id }) });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    const r47 = await backup(s.id, { name: 'n47', backup_type: 'daily', rotation: 1 }, env.a, '2.47');
    expect(tempestErrors('v2_47/servers.create_backup', r47.status, r47.json)).toEqual([]);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
  });

  it('validates the body as Nova’s schema (400) and checks metadata against metadata_items below 2.39 (403)', async () => {
    const s = await c.bootActive(env.a, { name: 'bk-bad' });
    const before = env.image.images.size;
    for (const body of [
      { backup_type: 'daily', rotation: 1 },
      { name: 'x', rotation: 1 },
      { name: 'x', backup_type: 'daily' },
      { name: 'x', backup_type: 'daily', rotation: -1 },
      { name: 'x', backup_type: 'daily', rotation: 'many' },
      { name: 'x', backup_type: 5, rotation: 1 },
      { name: ' x', backup_type: 'daily', rotation: 1 },
      { name: '', backup_type: 'daily', rotation: 1 },
      { name: 'x', backup_type: 'daily', rotation: 1, extra: true },
      { name: 'x', backup_type: 'daily', rotation: 1, metadata: { k: 1 } },
    ]) {
      const r = await backup(s.id, body);
      expect([JSON.stringify(body), r.status, typeof r.json?.badRequest?.message]).toEqual([JSON.stringify(body), 400, 'string']);
    }
    expect((await c.action(env.a, s.id, { createBackup: 'x' })).status).toBe(400);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { metadata_items: 1 } } });
    try {
      const over = await backup(s.id, { name: 'x', backup_type: 'daily', rotation: 1, metadata: { a: '1', b: '2' } });
      expect(over.status).toBe(403);
      expect(over.json.forbidden.message).toBe('Image metadata limit exceeded');
    } finally {
      await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { metadata_items: 128 } } });
    }
    expect(env.image.images.size).toBe(before);
  });

  it('refuses other projects (404), readers (403), locked servers and busy or wrong states (409)', async () => {
    const s = await c.bootActive(env.a, { name: 'bk-deny' });
    const body = { name: 'x', backup_type: 'daily', rotation: 1 };
    expect((await backup(s.id, body, env.b)).status).toBe(404);
    expect((await backup('00000000-0000-0000-0000-000000000000', body)).status).toBe(404);
    expect((await backup(s.id, body, env.readerA)).status).toBe(403);
    expect((await c.action(env.admin, s.id, { lock: null })).status).toBe(202);
    const locked = await backup(s.id, body);
    expect(locked.status).toBe(409);
    expect((await c.action(env.admin, s.id, { unlock: null })).status).toBe(202);
    expect((await c.action(env.a, s.id, { rescue: null })).status).toBe(200);
    await c.waitStatus(env.a, s.id, 'RESCUE');
    const rescued = await backup(s.id, body);
    expect(rescued.status).toBe(409);
    expect(rescued.json.conflictingRequest.message).toMatch(/Cannot 'createBackup' instance .* while it is in vm_state rescued/);
  });
});
