import { client, type ImageEnv, startImageEnv } from './helpers.js';

/** Visibility (private/shared/public/community) and image members, as Glance and Tempest expect them. */
let env: ImageEnv;
let c: ReturnType<typeof client>;
beforeAll(async () => {
  env = await startImageEnv();
  c = client(env);
}, 60000);
afterAll(() => env?.close());

const ids = async (who: typeof env.a, query = '?limit=1000') => (await c.list(who, query)).json.images.map((i: { id: string }) => i.id);

describe('members', () => {
  it('shares an image: add (pending, hidden from the member list), accept (listed), list/show as both sides', async () => {
    const img = await c.create(env.a, { name: 'shared-1' });
    expect(img.visibility).toBe('shared');
    const add = await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    expect(add.status).toBe(200);
    expect(add.json).toMatchObject({ image_id: img.id, member_id: env.b.id, status: 'pending', schema: '/v2/schemas/member' });
    expect(await ids(env.b)).not.toContain(img.id);
    // a pending member already sees the image by id and can find it with member_status=pending
    expect((await c.show(env.b, img.id)).status).toBe(200);
    expect(await ids(env.b, '?visibility=shared&member_status=pending')).toEqual([img.id]);
    const accept = await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'accepted' } });
    expect(accept.status).toBe(200);
    expect(accept.json.status).toBe('accepted');
    expect(await ids(env.b)).toContain(img.id);
    const list = await c.r('GET', `/v2/images/${img.id}/members`, env.a);
    expect(list.json).toMatchObject({ schema: '/v2/schemas/members', members: [{ member_id: env.b.id, status: 'accepted' }] });
    expect((await c.r('GET', `/v2/images/${img.id}/members`, env.b)).json.members).toHaveLength(1);
    expect((await c.r('GET', `/v2/images/${img.id}/members/${env.b.id}`, env.b)).json.status).toBe('accepted');
  });

  it('lets the member download but not modify or delete the image', async () => {
    const img = await c.create(env.a);
    await c.upload(env.a, img.id, Buffer.from('shared bytes'));
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'accepted' } });
    expect((await c.download(env.b, img.id)).body.toString()).toBe('shared bytes');
    expect((await c.patch(env.b, img.id, [{ op: 'replace', path: '/name', value: 'mine' }])).status).toBe(403);
    expect((await c.del(env.b, img.id)).status).toBe(403);
    expect((await c.r('POST', `/v2/images/${img.id}/members`, env.b, { json: { member: env.c.id } })).status).toBe(403);
  });

  it('rejecting hides the image from the member list again', async () => {
    const img = await c.create(env.a);
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    expect((await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'rejected' } })).status).toBe(200);
    expect(await ids(env.b)).not.toContain(img.id);
    expect(await ids(env.b, '?member_status=rejected&visibility=shared')).toContain(img.id);
  });

  it('refuses what Tempest expects refused: owner accepting for the member, bad status, duplicates, private images', async () => {
    const img = await c.create(env.a);
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    expect((await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.a, { json: { status: 'accepted' } })).status).toBe(403);
    expect(await ids(env.b)).not.toContain(img.id);
    expect((await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'notavalidstatus' } })).status).toBe(400);
    expect((await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } })).status).toBe(409);
    expect((await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: {} })).status).toBe(400);
    const priv = await c.create(env.a, { visibility: 'private' });
    const res = await c.r('POST', `/v2/images/${priv.id}/members`, env.a, { json: { member: env.b.id } });
    expect(res.status).toBe(403);
    expect(res.json.message).toMatch(/Only shared images have members/);
  });

  it('removing a member (owner only) takes the image away from it', async () => {
    const img = await c.create(env.a);
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'accepted' } });
    expect((await c.r('DELETE', `/v2/images/${img.id}/members/${env.b.id}`, env.b)).status).toBe(403);
    expect((await c.r('DELETE', `/v2/images/${img.id}/members/${env.b.id}`, env.a)).status).toBe(204);
    expect(await ids(env.b)).not.toContain(img.id);
    expect((await c.show(env.b, img.id)).status).toBe(404);
    expect((await c.r('DELETE', `/v2/images/${img.id}/members/${env.b.id}`, env.a)).status).toBe(404);
  });

  it('a third project sees neither the image nor its members', async () => {
    const img = await c.create(env.a);
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    expect((await c.r('GET', `/v2/images/${img.id}/members`, env.c)).status).toBe(404);
    expect((await c.r('GET', `/v2/images/${img.id}/members/${env.b.id}`, env.c)).status).toBe(404);
    expect((await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.c, { json: { status: 'accepted' } })).status).toBe(404);
    expect((await c.r('PUT', `/v2/images/${img.id}/members/${env.c.id}`, env.c, { json: { status: 'accepted' } })).status).toBe(404);
    expect((await c.show(env.c, img.id)).status).toBe(404);
  });

  it('making a shared image private revokes the members\' access (members kept for later)', async () => {
    const img = await c.create(env.a);
    await c.r('POST', `/v2/images/${img.id}/members`, env.a, { json: { member: env.b.id } });
    await c.r('PUT', `/v2/images/${img.id}/members/${env.b.id}`, env.b, { json: { status: 'accepted' } });
    await c.patch(env.a, img.id, [{ op: 'replace', path: '/visibility', value: 'private' }]);
    expect((await c.show(env.b, img.id)).status).toBe(404);
    await c.patch(env.a, img.id, [{ op: 'replace', path: '/visibility', value: 'shared' }]);
    expect((await c.show(env.b, img.id)).status).toBe(200);
  });
});

describe('visibility', () => {
  it('public images (admin only to publish) are listed and readable by everyone, writable by none but the owner', async () => {
    const pub = (await c.r('POST', '/v2/images', env.admin, { json: { name: 'public-1', visibility: 'public', disk_format: 'raw', container_format: 'bare' } })).json;
    await c.upload(env.admin, pub.id, Buffer.from('public bytes'));
    for (const who of [env.a, env.b]) {
      expect(await ids(who)).toContain(pub.id);
      expect((await c.download(who, pub.id)).body.toString()).toBe('public bytes');
      expect((await c.patch(who, pub.id, [{ op: 'replace', path: '/name', value: 'mine' }])).status).toBe(403);
      expect((await c.del(who, pub.id)).status).toBe(403);
      expect((await c.r('POST', `/v2/images/${pub.id}/actions/deactivate`, who)).status).toBe(403);
    }
    expect((await c.patch(env.a, (await c.create(env.a)).id, [{ op: 'replace', path: '/visibility', value: 'public' }])).status).toBe(403);
  });

  it('community images: anyone may publish, everyone reads by id, listed only on request', async () => {
    const com = await c.create(env.a, { visibility: 'community', name: 'community-1' });
    expect(await ids(env.b)).not.toContain(com.id);
    expect(await ids(env.b, '?visibility=community')).toContain(com.id);
    expect(await ids(env.b, '?visibility=all')).toContain(com.id);
    expect((await c.show(env.b, com.id)).status).toBe(200);
    expect((await c.patch(env.b, com.id, [{ op: 'replace', path: '/name', value: 'x' }])).status).toBe(403);
    expect(await ids(env.a)).toContain(com.id);
  });

  it('private images: only the owner (and admins)', async () => {
    const priv = await c.create(env.a, { visibility: 'private' });
    expect((await c.show(env.b, priv.id)).status).toBe(404);
    expect(await ids(env.b, '?visibility=all')).not.toContain(priv.id);
    expect((await c.show(env.admin, priv.id)).status).toBe(200);
    expect((await c.patch(env.admin, priv.id, [{ op: 'replace', path: '/name', value: 'by-admin' }])).json.name).toBe('by-admin');
  });

  it('admins may give an image to another project', async () => {
    const img = await c.create(env.a);
    expect((await c.patch(env.a, img.id, [{ op: 'replace', path: '/owner', value: env.b.id }])).status).toBe(403);
    expect((await c.patch(env.admin, img.id, [{ op: 'replace', path: '/owner', value: env.b.id }])).json.owner).toBe(env.b.id);
    expect((await c.show(env.b, img.id)).status).toBe(200);
  });
});
