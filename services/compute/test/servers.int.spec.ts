import amqp from 'amqplib';
import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

let env: ComputeEnv;
let c: ReturnType<typeof client>;

beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['fake-1', 'fake-2'] });
  c = client(env);
  // Many small servers in one project; the quota itself is tested in concurrency.int.spec.ts.
  await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 50, cores: 50 } } });
});
afterAll(() => env?.close());

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

describe('server lifecycle', () => {
  it('boots to ACTIVE on a fake host; create/show/list/detail match Tempest schemas', async () => {
    const created = await c.boot(env.a, { name: 'web-1', metadata: { role: 'web' } });
    expectSchema('servers.create_server_with_admin_pass', created);
    expect(created.headers.location).toMatch(new RegExp(`/v2.1/servers/${created.json.server.id}$`));
    const id = created.json.server.id;
    const active = await c.waitStatus(env.a, id, 'ACTIVE');
    expect(active).toMatchObject({ name: 'web-1', metadata: { role: 'web' }, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-STS:power_state': 1, progress: 100 });
    expect(active['OS-EXT-SRV-ATTR:host']).toBeUndefined();
    expectSchema('servers.get_server', await c.show(env.a, id));
    const adminView = await c.show(env.admin, id);
    expectSchema('servers.get_server', adminView);
    const host = adminView.json.server['OS-EXT-SRV-ATTR:host'];
    expect(['fake-1', 'fake-2']).toContain(host);
    expect((await env.drivers.get(host)!.getInfo(id)).state).toBe('running');
    expectSchema('servers.list_servers', await c.r('GET', '/servers', env.a));
    const detail = await c.r('GET', '/servers/detail', env.a);
    expectSchema('servers.list_servers_detail', detail);
    expect(detail.json.servers.map((s: { id: string }) => s.id)).toContain(id);
    expectSchema('servers.list_addresses', await c.r('GET', `/servers/${id}/ips`, env.a));
    const metrics = await request(env.url, 'GET', '/metrics');
    expect(metrics.text).toMatch(/kumo_compute_schedule_seconds_count\{[^}]*outcome="placed"[^}]*\} [1-9]/);
  });

  it('filters by name regex and status, and pages with limit/marker', async () => {
    const ids: string[] = [];
    for (const n of ['db-1', 'db-2', 'db-3']) ids.push((await c.bootActive(env.a, { name: n })).id);
    const byName = await c.r('GET', '/servers?name=^db-', env.a);
    expect(byName.json.servers.map((s: { name: string }) => s.name).sort()).toEqual(['db-1', 'db-2', 'db-3']);
    expect((await c.r('GET', '/servers/detail?status=SHUTOFF', env.a)).json.servers).toEqual([]);
    expect((await c.r('GET', '/servers/detail?status=ACTIVE&name=db-2', env.a)).json.servers).toHaveLength(1);
    const p1 = await c.r('GET', '/servers?limit=2', env.a);
    expect(p1.json.servers).toHaveLength(2);
    expectSchema('servers.list_servers', p1);
    const next = new URL(p1.json.servers_links[0].href);
    const p2 = await c.r('GET', `/servers?${next.searchParams.toString()}`, env.a);
    expect(p2.json.servers[0].id).not.toBe(p1.json.servers[1].id);
    const all = [...p1.json.servers, ...p2.json.servers].map((s: { id: string }) => s.id);
    expect(new Set(all).size).toBe(all.length);
    expect((await c.r('GET', '/servers?limit=-1', env.a)).status).toBe(400);
    expect((await c.r('GET', '/servers?marker=00000000-0000-0000-0000-000000000000', env.a)).status).toBe(400);
  });

  it('updates the name and metadata', async () => {
    const s = await c.bootActive(env.a, { name: 'old' });
    const up = await c.r('PUT', `/servers/${s.id}`, env.a, { json: { server: { name: 'new' } } });
    expectSchema('servers.update_server', up);
    expect(up.json.server.name).toBe('new');
    const set = await c.r('PUT', `/servers/${s.id}/metadata`, env.a, { json: { metadata: { a: '1' } } });
    expectSchema('servers.set_server_metadata', set);
    const upd = await c.r('POST', `/servers/${s.id}/metadata`, env.a, { json: { metadata: { b: '2' } } });
    expect(upd.json.metadata).toEqual({ a: '1', b: '2' });
    const item = await c.r('PUT', `/servers/${s.id}/metadata/c`, env.a, { json: { meta: { c: '3' } } });
    expectSchema('servers.set_show_server_metadata_item', item);
    expect((await c.r('DELETE', `/servers/${s.id}/metadata/a`, env.a)).status).toBe(204);
    expect((await c.r('GET', `/servers/${s.id}/metadata`, env.a)).json.metadata).toEqual({ b: '2', c: '3' });
    expect((await c.r('PUT', `/servers/${s.id}/metadata/c`, env.a, { json: { meta: { d: '3' } } })).status).toBe(400);
  });

  it('runs stop/start, reboot soft+hard, pause/unpause, suspend/resume through the agent', async () => {
    const s = await c.bootActive(env.a, { name: 'actions' });
    const host = (await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host'];
    const driver = env.drivers.get(host)!;
    const step = async (body: unknown, status: string, domainState: string) => {
      const r = await c.action(env.a, s.id, body);
      expect(r.status).toBe(202);
      const after = await c.waitStatus(env.a, s.id, status);
      expect((await driver.getInfo(s.id)).state).toBe(domainState);
      return after;
    };
    expect((await step({ 'os-stop': null }, 'SHUTOFF', 'shutoff'))['OS-EXT-STS:power_state']).toBe(4);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(409);
    await step({ 'os-start': null }, 'ACTIVE', 'running');
    const boots = (driver.store.domains.get(s.id)!).bootCount;
    await step({ reboot: { type: 'SOFT' } }, 'ACTIVE', 'running');
    await step({ reboot: { type: 'HARD' } }, 'ACTIVE', 'running');
    expect(driver.store.domains.get(s.id)!.bootCount).toBeGreaterThan(boots);
    expect((await step({ pause: null }, 'PAUSED', 'paused'))['OS-EXT-STS:power_state']).toBe(3);
    const conflict = await c.action(env.a, s.id, { suspend: null });
    expect(conflict.status).toBe(409);
    expect(conflict.json.conflictingRequest.message).toMatch(/vm_state paused/);
    await step({ unpause: null }, 'ACTIVE', 'running');
    await step({ suspend: null }, 'SUSPENDED', 'suspended');
    await step({ resume: null }, 'ACTIVE', 'running');
    expect((await c.action(env.a, s.id, { reboot: { type: 'SIDEWAYS' } })).status).toBe(400);
    expect((await c.action(env.a, s.id, { fly: null })).status).toBe(400);
    const actions = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a);
    expectSchema('servers.list_instance_actions', actions);
    expect(actions.json.instanceActions.map((a: { action: string }) => a.action)).toEqual(['resume', 'suspend', 'unpause', 'pause', 'reboot', 'reboot', 'start', 'stop', 'create']);
    const one = await c.r('GET', `/servers/${s.id}/os-instance-actions/${actions.json.instanceActions[0].request_id}`, env.admin);
    expectSchema('servers.show_instance_action', one);
  });

  it('lock blocks actions of the owner until unlock', async () => {
    const s = await c.bootActive(env.a, { name: 'locked' });
    expect((await c.action(env.a, s.id, { lock: null })).status).toBe(202);
    const r = await c.action(env.a, s.id, { 'os-stop': null });
    expect(r.status).toBe(409);
    expect(r.json.conflictingRequest.message).toMatch(/locked/);
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(409);
    expect((await c.action(env.a, s.id, { unlock: null })).status).toBe(202);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
  });

  it('resizes to VERIFY_RESIZE, then confirm keeps the new flavor and revert restores the old', async () => {
    const s = await c.bootActive(env.a, { name: 'resize', flavorRef: '42' });
    expect((await c.action(env.a, s.id, { resize: { flavorRef: '1' } })).status).toBe(202);
    const verify = await c.waitStatus(env.a, s.id, 'VERIFY_RESIZE');
    expect(verify.flavor.id).toBe('1');
    const host = (await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host'];
    expect((await env.drivers.get(host)!.getInfo(s.id)).spec.memory.sizeMb).toBe(512);
    expect((await c.action(env.a, s.id, { confirmResize: null })).status).toBe(204);
    const done = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(done.flavor.id).toBe('1');
    expect((await c.action(env.a, s.id, { resize: { flavorRef: '1' } })).status).toBe(400); // same flavor
    expect((await c.action(env.a, s.id, { resize: { flavorRef: '2' } })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'VERIFY_RESIZE');
    expect((await c.action(env.a, s.id, { revertResize: null })).status).toBe(202);
    const reverted = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(reverted.flavor.id).toBe('1');
    expect((await env.drivers.get(host)!.getInfo(s.id)).spec.memory.sizeMb).toBe(512);
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors.find((h: { hypervisor_hostname: string }) => h.hypervisor_hostname === host);
    const servers = (await c.r('GET', '/servers/detail?all_tenants=1', env.admin)).json.servers.filter((x: Record<string, string>) => x['OS-EXT-SRV-ATTR:host'] === host);
    const flavors = await Promise.all(servers.map((x: { flavor: { id: string } }) => c.r('GET', `/flavors/${x.flavor.id}`, env.admin)));
    expect(hv.memory_mb_used).toBe(flavors.reduce((a, f) => a + f.json.flavor.ram, 0));
  });

  it('createImage registers the image before answering; console output and rebuild work', async () => {
    const s = await c.bootActive(env.a, { name: 'snap' });
    const r = await c.action(env.a, s.id, { createImage: { name: 'snap-1', metadata: { k: 'v' } } });
    expect(r.status).toBe(202);
    const imageId = r.headers.location!.split('/').pop()!;
    expect(env.image.images.get(imageId)).toMatchObject({ name: 'snap-1', owner: env.a.id, properties: expect.objectContaining({ image_type: 'snapshot', instance_uuid: s.id, k: 'v' }) });
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    // The agent wrote the snapshot and the image service imported it: the image is active.
    expect(env.image.images.get(imageId)!.status).toBe('active');
    expect(env.image.imported).toEqual([{ imageId, content: 'fake image data' }]);
    // The fake guest writes 5 lines per boot; the last 6 pieces of the log hold its boot marker.
    const out = await c.action(env.a, s.id, { 'os-getConsoleOutput': { length: 6 } });
    expect(out.status).toBe(200);
    expectSchema('servers.get_console_output', out);
    expect(out.json.output).toMatch(/FAKE-BOOT/);
    const rb = await c.action(env.a, s.id, { rebuild: { imageRef: env.image.publicId, name: 'rebuilt' } });
    expect(rb.status).toBe(202);
    expectSchema('servers.rebuild_server_with_admin_pass', rb);
    expect((await c.waitStatus(env.a, s.id, 'ACTIVE')).name).toBe('rebuilt');
  });

  it('keeps a given adminPass, stores accessIPv6 compressed, and answers restore with 409', async () => {
    const r = await c.boot(env.a, { name: 'misc', adminPass: 'testpassword', accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2' });
    expect(r.json.server.adminPass).toBe('testpassword');
    const s = await c.waitStatus(env.a, r.json.server.id, 'ACTIVE');
    expect(s.accessIPv6).toBe('::babe:dc0c:1602');
    expect((await c.r('PUT', `/servers/${s.id}`, env.a, { json: { server: { accessIPv4: '300.1.1.1' } } })).status).toBe(400);
    expect((await c.action(env.a, s.id, { restore: null })).status).toBe(409);
    expect((await c.action(env.a, '00000000-0000-0000-0000-000000000000', { restore: null })).status).toBe(404);
  });

  it('delete ends in 404, destroys the domain and frees the host; force-delete works too', async () => {
    const s = await c.bootActive(env.a, { name: 'gone' });
    const host = (await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host'];
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await waitUntil('server gone', async () => (await c.show(env.a, s.id)).status === 404);
    await expect(env.drivers.get(host)!.getInfo(s.id)).rejects.toThrow();
    const f = await c.bootActive(env.a, { name: 'forced' });
    expect((await c.action(env.a, f.id, { forceDelete: null })).status).toBe(202);
    await waitUntil('forced gone', async () => (await c.show(env.a, f.id)).status === 404);
  });

  it('os-simple-tenant-usage reports resource-hours per project; another project is refused', async () => {
    await c.bootActive(env.a, { name: 'usage' });
    const u = await c.r('GET', `/os-simple-tenant-usage/${env.a.id}`, env.a);
    expect(tempestErrors('tenant_usages.get_tenant_usage', u.status, u.json)).toEqual([]);
    expect(u.json.tenant_usage.server_usages.length).toBeGreaterThan(0);
    expect(u.json.tenant_usage.total_vcpus_usage).toBeGreaterThan(0);
    const all = await c.r('GET', '/os-simple-tenant-usage?detailed=1', env.admin);
    expect(tempestErrors('tenant_usages.list_tenant_usage', all.status, all.json)).toEqual([]);
    expect((await c.r('GET', `/os-simple-tenant-usage/${env.a.id}`, env.b)).status).toBe(403);
    expect((await c.r('GET', '/os-simple-tenant-usage', env.a)).status).toBe(403);
    expect((await c.r('GET', `/os-simple-tenant-usage/${env.a.id}?start=garbage`, env.a)).status).toBe(400);
  });

  it('publishes instance events on kumo.events', async () => {
    const conn = await amqp.connect(env.vhost.url);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'kumo.events', 'instance.#');
    const seen: { key: string; data: { instance: { id: string; status: string } } }[] = [];
    await ch.consume(queue, (m) => m && seen.push({ key: m.fields.routingKey, data: JSON.parse(m.content.toString()).data }), { noAck: true });
    const s = await c.bootActive(env.a, { name: 'evented' });
    await c.r('DELETE', `/servers/${s.id}`, env.a);
    await waitUntil('deleted event', () => seen.some((e) => e.key === 'instance.deleted' && e.data.instance.id === s.id));
    const mine = seen.filter((e) => e.data.instance.id === s.id).map((e) => `${e.key}:${e.data.instance.status}`);
    expect(mine[0]).toBe('instance.created:BUILD');
    expect(mine).toContain('instance.state_changed:ACTIVE');
    await conn.close();
  });
});

describe('bad input and isolation', () => {
  it('answers Nova-shaped 400s for bad create bodies, never a 500', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /server/],
      [{ server: { imageRef: env.image.publicId, flavorRef: '1' } }, /name/],
      [{ server: { name: 'x', imageRef: env.image.publicId } }, /flavorRef/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: 'nope' } }, /Flavor nope could not be found/],
      [{ server: { name: 'x', imageRef: 'not-a-uuid', flavorRef: '1' } }, /imageRef/],
      [{ server: { name: 'x', imageRef: '11111111-1111-1111-1111-111111111111', flavorRef: '1' } }, /could not be found/],
      [{ server: { name: 'x', imageRef: env.image.queuedId, flavorRef: '1' } }, /not active/],
      [{ server: { name: 'x', imageRef: env.image.bigId, flavorRef: '1' } }, /memory is too small/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', key_name: 'missing' } }, /key_name/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', networks: [{ uuid: 'bad' }] } }, /networks/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', min_count: 3, max_count: 2 } }, /min_count/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', metadata: { a: 1 } } }, /metadata/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', availability_zone: 'mars' } }, /availability zone/],
      [{ server: { name: 'x', imageRef: env.image.publicId, flavorRef: '1', user_data: '!!!' } }, /user_data/],
    ];
    for (const [body, msg] of cases) {
      const r = await c.r('POST', '/servers', env.a, { json: body });
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.json.badRequest.message).toMatch(msg);
    }
    const malformed = await c.r('POST', '/servers', env.a, { body: '{"server": ', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
  });

  it('another project can neither see nor act on a server; private images stay private', async () => {
    const s = await c.bootActive(env.a, { name: 'mine', imageRef: env.image.privateId });
    expect((await c.show(env.b, s.id)).status).toBe(404);
    expect((await c.action(env.b, s.id, { 'os-stop': null })).status).toBe(404);
    expect((await c.r('DELETE', `/servers/${s.id}`, env.b)).status).toBe(404);
    expect((await c.r('PUT', `/servers/${s.id}`, env.b, { json: { server: { name: 'x' } } })).status).toBe(404);
    expect((await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.b)).status).toBe(404);
    expect((await c.r('GET', '/servers', env.b)).json.servers.map((x: { id: string }) => x.id)).not.toContain(s.id);
    expect((await c.r('GET', '/servers?all_tenants=1', env.b)).status).toBe(403);
    expect((await c.r('GET', '/servers/detail?all_tenants=1', env.admin)).json.servers.map((x: { id: string }) => x.id)).toContain(s.id);
    const other = await c.boot(env.b, { imageRef: env.image.privateId });
    expect(other.status).toBe(400);
    expect((await c.boot(env.readerA)).status).toBe(403);
    expect((await c.show(env.readerA, s.id)).status).toBe(200);
  });
});
