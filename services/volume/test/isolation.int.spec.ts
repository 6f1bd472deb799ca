import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import { waitUntil } from '@kumo/service-kit/testing';
import { call, startVolumeEnv, type VolumeEnv } from './helpers.js';

/** Another project never sees, changes or attaches a project's volume; readers only read. */
let env: VolumeEnv;
let conn: AmqpConnection;
let transport: AmqpRpcTransport;
let id: string;

beforeAll(async () => {
  env = await startVolumeEnv();
  conn = new AmqpConnection({ url: env.vhost.url, name: 'volume-isolation-test', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
  transport = new AmqpRpcTransport(conn, 'compute', 10000);
  const res = await call(env, env.a, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size: 1, name: 'private' } });
  id = res.json.volume.id;
  await waitUntil('available', async () => (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json.volume.status === 'available', { timeoutMs: 20000, intervalMs: 100 });
}, 60000);
afterAll(async () => {
  await transport?.close();
  await conn?.close();
  await env?.close();
});

describe('another project', () => {
  it.each([
    ['GET', '', undefined],
    ['PUT', '', { volume: { name: 'stolen' } }],
    ['DELETE', '', undefined],
    ['GET', '/metadata', undefined],
    ['POST', '/metadata', { metadata: { a: 'b' } }],
    ['POST', '/action', { 'os-extend': { new_size: 2 } }],
    ['POST', '/action', { 'os-set_bootable': { bootable: true } }],
  ])('%s volume%s is 404, as for a missing volume', async (method: string, suffix: string, body: unknown) => {
    const res = await call(env, env.b, method, `/v3/${env.b.id}/volumes/${id}${suffix}`, body);
    expect(res.status).toBe(404);
    expect(res.json.itemNotFound.message).toBe(`Volume ${id} could not be found.`);
  });

  it('does not list it, even with all_tenants (ignored for non-admins, as Cinder: cinderclient sends it on every lookup by name)', async () => {
    expect((await call(env, env.b, 'GET', `/v3/${env.b.id}/volumes/detail`)).json.volumes).toEqual([]);
    for (const url of [`/v3/${env.b.id}/volumes/detail?all_tenants=1`, `/v3/${env.b.id}/volumes?all_tenants=1&name=${encodeURIComponent('x')}`]) {
      const all = await call(env, env.b, 'GET', url);
      expect(all.status).toBe(200);
      expect(all.json.volumes.map((v: { id: string }) => v.id)).not.toContain(id);
    }
  });

  it('cannot use the owner project in the URL (400 Malformed request url)', async () => {
    const res = await call(env, env.b, 'GET', `/v3/${env.a.id}/volumes/${id}`);
    expect(res.status).toBe(400);
    expect(res.json.badRequest.message).toBe('Malformed request url');
  });

  it('cannot reserve it over RPC for its server (not_found)', async () => {
    await expect(transport.client('volume').call('reserve', { volumeId: id, projectId: env.b.id, serverId: 'srv-b' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(transport.client('volume').call('delete', { volumeId: id, projectId: env.b.id })).rejects.toMatchObject({ code: 'not_found' });
  });

  it('left the volume untouched', async () => {
    const v = (await call(env, env.a, 'GET', `/v3/${env.a.id}/volumes/${id}`)).json.volume;
    expect(v).toMatchObject({ name: 'private', status: 'available', size: 1, bootable: 'false', metadata: {} });
  });
});

describe('admin and readers', () => {
  it('an admin sees every project with all_tenants and shows any volume', async () => {
    const all = await call(env, env.admin, 'GET', `/v3/${env.admin.id}/volumes/detail?all_tenants=1`);
    expect(all.json.volumes.map((v: { id: string }) => v.id)).toContain(id);
    expect((await call(env, env.admin, 'GET', `/v3/${env.admin.id}/volumes/${id}`)).status).toBe(200);
  });

  it('a reader of the project reads but may not create, change or delete (403)', async () => {
    expect((await call(env, env.readerA, 'GET', `/v3/${env.a.id}/volumes/${id}`)).status).toBe(200);
    const create = await call(env, env.readerA, 'POST', `/v3/${env.a.id}/volumes`, { volume: { size: 1 } });
    expect(create.status).toBe(403);
    expect(create.json.forbidden.message).toBe("Policy doesn't allow volume:create to be performed.");
    expect((await call(env, env.readerA, 'PUT', `/v3/${env.a.id}/volumes/${id}`, { volume: { name: 'x' } })).status).toBe(403);
    expect((await call(env, env.readerA, 'DELETE', `/v3/${env.a.id}/volumes/${id}`)).status).toBe(403);
  });
});
