import { FakeDriver, GuestAgentUnavailable } from '@kumo/hypervisor';
import { waitUntil } from '@kumo/service-kit/testing';
import { ConductorService } from '../src/conductor/conductor.service.js';
import { Db } from '../src/db/db.js';
import { client, type ComputeEnv, request, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

/**
 * Issue 6: rescue/unrescue, shelve/shelveOffload/unshelve, changePassword, diagnostics and the
 * remote console actions, through the API, the conductor and an in-process agent on FakeDrivers.
 */
/** A fake host whose domains have no guest agent, as QemuDriver's today. */
class NoGuestAgentDriver extends FakeDriver {
  override async setUserPassword(id: string): Promise<void> {
    await this.getInfo(id);
    throw new GuestAgentUnavailable(id, 'QEMU guest agent is not enabled');
  }
}

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const actionsOf = async (c: ReturnType<typeof client>, env: ComputeEnv, id: string) =>
  (await c.r('GET', `/servers/${id}/os-instance-actions`, env.a)).json.instanceActions.map((a: { action: string }) => a.action);

describe('server actions (shelved_offload_time 0, the default)', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['act-1', 'act-2'] });
    c = client(env);
  });
  afterAll(() => env?.close());

  const hostOf = async (id: string) => (await c.show(env.admin, id)).json.server['OS-EXT-SRV-ATTR:host'] as string | null;

  it('rescue boots a rescue disk (root disk second), refuses other actions, unrescue restores the root disk', async () => {
    const s = await c.bootActive(env.a, { name: 'rescue-me', adminPass: 'Orig1234' });
    const host = (await hostOf(s.id))!;
    const driver = env.drivers.get(host)!;
    const r = await c.action(env.a, s.id, { rescue: { adminPass: 'Rescue1234' } });
    expect(r.status).toBe(200);
    expectSchema('servers.rescue_server_with_admin_pass', r);
    expect(r.json).toEqual({ adminPass: 'Rescue1234' });
    const rescued = await c.waitStatus(env.a, s.id, 'RESCUE');
    expect(rescued['OS-EXT-STS:vm_state']).toBe('rescued');
    expect((await driver.getInfo(s.id)).spec.disks.map((d) => [d.id, d.bootIndex])).toEqual([
      ['rescue', 0],
      ['root', undefined],
    ]);
    // Tempest's negative rescue tests: a rescued server cannot be rebooted, rebuilt or rescued again.
    expect((await c.action(env.a, s.id, { reboot: { type: 'HARD' } })).status).toBe(409);
    expect((await c.action(env.a, s.id, { rebuild: { imageRef: env.image.publicId } })).status).toBe(409);
    const again = await c.action(env.a, s.id, { rescue: null });
    expect(again.status).toBe(409);
    expect(again.json.conflictingRequest.message).toMatch(/Cannot 'rescue' instance .* vm_state rescued/);
    expect((await c.r('GET', '/servers/detail?status=RESCUE', env.a)).json.servers.map((x: { id: string }) => x.id)).toEqual([s.id]);
    // Another project sees nothing.
    expect((await c.action(env.b, s.id, { unrescue: null })).status).toBe(404);
    expect((await c.action(env.a, s.id, { unrescue: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await driver.getInfo(s.id)).spec.disks.map((d) => d.id)).toEqual(['root']);
    expect((await c.action(env.a, s.id, { unrescue: null })).status).toBe(409);
    expect((await actionsOf(c, env, s.id)).slice(0, 2)).toEqual(['unrescue', 'rescue']);
    const events = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a);
    expect(events.json.instanceActions.slice(0, 2).every((a: { message: string | null }) => a.message === null)).toBe(true);
  });

  it('rescue: generated adminPass with a null body, a stopped server can be rescued, bad input and wrong states refused', async () => {
    const s = await c.bootActive(env.a, { name: 'rescue-2' });
    const bad = [{ rescue: { rescue_image_ref: 'nope' } }, { rescue: { color: 'red' } }, { rescue: 'x' }];
    for (const body of bad) expect((await c.action(env.a, s.id, body)).status).toBe(400);
    const unknown = await c.action(env.a, s.id, { rescue: { rescue_image_ref: '11111111-1111-1111-1111-111111111111' } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.badRequest.message).toMatch(/could not be found/);
    // Another project's private image is not a rescue image either.
    const other = await c.bootActive(env.b, { name: 'other' });
    expect((await c.action(env.b, other.id, { rescue: { rescue_image_ref: env.image.privateId } })).status).toBe(400);
    expect((await c.action(env.b, s.id, { rescue: null })).status).toBe(404);
    expect((await c.action(env.a, s.id, { pause: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'PAUSED');
    expect((await c.action(env.a, s.id, { rescue: null })).status).toBe(409);
    expect((await c.action(env.a, s.id, { unpause: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const r = await c.action(env.a, s.id, { rescue: null });
    expect(r.status).toBe(200);
    expect(r.json.adminPass).toMatch(/^[A-Za-z0-9_-]{12}$/);
    const rescued = await c.waitStatus(env.a, s.id, 'RESCUE');
    expect(rescued['OS-EXT-STS:power_state']).toBe(1);
    expect((await c.action(env.a, s.id, { unrescue: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
  });

  it('shelve snapshots <name>-shelved and offloads (host released); unshelve schedules, spawns from the snapshot and deletes it', async () => {
    const s = await c.bootActive(env.a, { name: 'shelf', flavorRef: '2' });
    const host = (await hostOf(s.id))!;
    const usedBefore = async (h: string) => (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors.find((x: { hypervisor_hostname: string }) => x.hypervisor_hostname === h);
    const before = await usedBefore(host);
    expect((await c.action(env.b, s.id, { shelve: null })).status).toBe(404);
    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(409); // test_unshelve_server_invalid_state
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    const snapshot = [...env.image.images.values()].find((img) => img.name === 'shelf-shelved')!;
    expect(snapshot).toMatchObject({ owner: env.a.id, properties: expect.objectContaining({ image_type: 'snapshot', instance_uuid: s.id }) });
    const offloaded = await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    expect(offloaded['OS-EXT-STS:power_state']).toBe(4);
    expect(env.image.images.get(snapshot.id)!.status).toBe('active');
    expect(env.image.imported.map((x) => x.imageId)).toContain(snapshot.id);
    const admin = (await c.show(env.admin, s.id)).json.server;
    expectSchema('servers.get_server', { status: 200, json: { server: admin } });
    expect(admin['OS-EXT-SRV-ATTR:host']).toBeNull();
    await expect(env.drivers.get(host)!.getInfo(s.id)).rejects.toMatchObject({ code: 'DomainNotFound' });
    const after = await usedBefore(host);
    expect(after.memory_mb_used).toBe(before.memory_mb_used - 2048);
    expect(after.running_vms).toBe(before.running_vms - 1);
    // test_shelve_shelved_server; and an offloaded server has no console or diagnostics.
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(409);
    expect((await c.action(env.a, s.id, { 'os-getVNCConsole': { type: 'novnc' } })).status).toBe(409);
    expect((await c.r('GET', `/servers/${s.id}/diagnostics`, env.admin)).status).toBe(409);
    expect((await c.r('GET', '/servers/detail?status=SHELVED_OFFLOADED', env.a)).json.servers.map((x: { id: string }) => x.id)).toEqual([s.id]);

    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    const back = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(back.image.id).toBe(env.image.publicId);
    const newHost = (await hostOf(s.id))!;
    expect((await env.drivers.get(newHost)!.getInfo(s.id)).state).toBe('running');
    // Spawned from the snapshot (its location was asked for), which is then deleted.
    expect(env.image.peer.calls.some((x) => x.pattern === 'image.get_location' && (x.data as { imageId: string }).imageId === snapshot.id)).toBe(true);
    await waitUntil('shelve snapshot deleted', () => env.image.deleted.includes(snapshot.id));
    expect((await usedBefore(newHost)).memory_mb_used).toBeGreaterThanOrEqual(2048);
    expect((await actionsOf(c, env, s.id)).slice(0, 2)).toEqual(['unshelve', 'shelve']);
  });

  it('a paused server shelves too; deleting a shelved server deletes its snapshot', async () => {
    const s = await c.bootActive(env.a, { name: 'paused-shelf' });
    expect((await c.action(env.a, s.id, { pause: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'PAUSED');
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    const snapshot = [...env.image.images.values()].find((img) => img.name === 'paused-shelf-shelved')!;
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await waitUntil('server gone', async () => (await c.show(env.a, s.id)).status === 404);
    await waitUntil('snapshot deleted with the server', () => env.image.deleted.includes(snapshot.id));
  });

  it('unshelve with no room anywhere leaves the server SHELVED_OFFLOADED with the reason', async () => {
    const s = await c.bootActive(env.a, { name: 'no-room' });
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    for (const h of ['act-1', 'act-2']) expect((await c.r('PUT', '/os-services/disable', env.admin, { json: { host: h, binary: 'nova-compute' } })).status).toBe(200);
    try {
      expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
      await waitUntil('unshelve ended', async () => (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a)).json.instanceActions[0].message !== null);
      const still = await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
      expect(still['OS-EXT-STS:task_state']).toBeNull();
      const [last] = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a)).json.instanceActions;
      expect(last).toMatchObject({ action: 'unshelve', message: expect.stringMatching(/No valid host/) });
    } finally {
      for (const h of ['act-1', 'act-2']) await c.r('PUT', '/os-services/enable', env.admin, { json: { host: h, binary: 'nova-compute' } });
    }
    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
  });

  it('changePassword sets the password through the driver (FakeDriver records it) and answers 202', async () => {
    const s = await c.bootActive(env.a, { name: 'pw' });
    const host = (await hostOf(s.id))!;
    const r = await c.action(env.a, s.id, { changePassword: { adminPass: 'Newpass1234' } });
    expect(r.status).toBe(202);
    expect(r.text).toBe('');
    expect(env.drivers.get(host)!.store.domains.get(s.id)!.passwords).toEqual({ root: 'Newpass1234' });
    const shown = await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect(shown['OS-EXT-STS:task_state']).toBeNull();
    expect((await actionsOf(c, env, s.id))[0]).toBe('changePassword');
    for (const body of [{ changePassword: {} }, { changePassword: { adminPass: 5 } }, { changePassword: { adminPass: 'x', extra: 1 } }, { changePassword: null }]) {
      expect((await c.action(env.a, s.id, body)).status).toBe(400);
    }
    expect((await c.action(env.b, s.id, { changePassword: { adminPass: 'x' } })).status).toBe(404);
    expect((await c.action(env.readerA, s.id, { changePassword: { adminPass: 'x' } })).status).toBe(403);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    expect((await c.action(env.a, s.id, { changePassword: { adminPass: 'x' } })).status).toBe(409);
  });

  it('diagnostics: admin only (another project 404, a member 403), plausible counters from the driver', async () => {
    const s = await c.bootActive(env.a, { name: 'diag' });
    const d = await c.r('GET', `/servers/${s.id}/diagnostics`, env.admin);
    expectSchema('servers.show_server_diagnostics', d);
    expect(d.json).toMatchObject({ state: 'running', memory: 512 * 1024, root_read_req: expect.any(Number), root_write: expect.any(Number) });
    expect(d.json.root_read_req).toBeGreaterThan(0);
    expect(d.json.cpu_time).toBeGreaterThanOrEqual(0);
    expect((await c.r('GET', `/servers/${s.id}/diagnostics`, env.a)).status).toBe(403);
    expect((await c.r('GET', `/servers/${s.id}/diagnostics`, env.b)).status).toBe(404);
    expect((await c.r('GET', '/servers/00000000-0000-0000-0000-000000000000/diagnostics', env.admin)).status).toBe(404);
  });

  it('os-getVNCConsole: a token URL; on a node without a console proxy the page validates the token and says what to start; other types as Nova', async () => {
    const s = await c.bootActive(env.a, { name: 'console' });
    const r = await c.action(env.a, s.id, { 'os-getVNCConsole': { type: 'novnc' } });
    expect(r.status).toBe(200);
    expectSchema('servers.get_vnc_console', r);
    expect(r.json.console.type).toBe('novnc');
    const url = new URL(r.json.console.url);
    expect(url.pathname).toBe('/vnc_auto.html');
    const token = url.searchParams.get('token')!;
    const page = await request(env.url, 'GET', `/vnc_auto.html?token=${token}`);
    // This environment's agent runs no noVNC proxy (test/consoles.int.spec.ts has one).
    expect(page.status).toBe(503);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.text).toContain(s.id);
    expect(page.text).toMatch(/runs no noVNC proxy/);
    expect(page.text).toMatch(/KUMO_AGENT_CONSOLE_LISTEN/);
    expect((await request(env.url, 'GET', '/vnc_auto.html?token=forged')).status).toBe(401);
    expect((await request(env.url, 'GET', '/vnc_auto.html')).status).toBe(401);
    // Only a hash of the token is stored.
    const db = env.svc.app.get(Db);
    const [row] = await db.rows<{ token_hash: string; internal_access_path: string }>(`SELECT token_hash, internal_access_path FROM ${db.t('console_auth_token')} WHERE instance_id = $1`, [s.id]);
    expect(row.token_hash).not.toContain(token);
    expect(row.internal_access_path).toMatch(/vnc/);

    expect((await c.action(env.a, s.id, { 'os-getVNCConsole': { type: 'spice' } })).status).toBe(400);
    expect((await c.action(env.a, s.id, { 'os-getVNCConsole': {} })).status).toBe(400);
    const spice = await c.action(env.a, s.id, { 'os-getSPICEConsole': { type: 'spice-html5' } });
    expect(spice.status).toBe(400);
    expect(spice.json.badRequest.message).toBe('Unavailable console type spice-html5.');
    expect((await c.action(env.a, s.id, { 'os-getSerialConsole': { type: 'serial' } })).json.badRequest.message).toBe('Unavailable console type serial.');
    expect((await c.action(env.a, s.id, { 'os-getSerialConsole': { type: 'novnc' } })).status).toBe(400);
    expect((await c.action(env.b, s.id, { 'os-getVNCConsole': { type: 'novnc' } })).status).toBe(404);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const stopped = await c.action(env.a, s.id, { 'os-getVNCConsole': { type: 'novnc' } });
    expect(stopped.status).toBe(409);
    expect(stopped.json.conflictingRequest.message).toMatch(/Cannot 'get_vnc_console' instance .* vm_state stopped/);
    // A deleted server's tokens open nothing.
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await waitUntil('server gone', async () => (await c.show(env.a, s.id)).status === 404);
    expect((await request(env.url, 'GET', `/vnc_auto.html?token=${token}`)).status).toBe(401);
  });
});

describe('shelve without immediate offload (KUMO_COMPUTE_SHELVED_OFFLOAD_TIME=-1)', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    env = await startComputeEnv({
      hosts: ['keep-1', 'noagent-1'],
      env: { KUMO_COMPUTE_SHELVED_OFFLOAD_TIME: '-1' },
      driverFor: (host) => (host.startsWith('noagent') ? new NoGuestAgentDriver({ host, checkFiles: false }) : new FakeDriver({ host, checkFiles: false })),
    });
    c = client(env);
  });
  afterAll(() => env?.close());

  it('SHELVED keeps the host (domain shut off); unshelve powers it on there; shelveOffload is for admins', async () => {
    const s = await c.bootActive(env.a, { name: 'kept' });
    const driver = env.drivers.get((await c.show(env.admin, s.id)).json.server['OS-EXT-SRV-ATTR:host'])!;
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    const shelved = await c.waitStatus(env.a, s.id, 'SHELVED');
    expect(shelved['OS-EXT-STS:power_state']).toBe(4);
    expect((await driver.getInfo(s.id)).state).toBe('shutoff');
    const snapshot = [...env.image.images.values()].find((img) => img.name === 'kept-shelved')!;
    expect((await c.action(env.a, s.id, { unshelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'ACTIVE');
    expect((await driver.getInfo(s.id)).state).toBe('running');
    await waitUntil('snapshot deleted', () => env.image.deleted.includes(snapshot.id));

    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED');
    expect((await c.action(env.a, s.id, { shelveOffload: null })).status).toBe(403);
    expect((await c.action(env.b, s.id, { shelveOffload: null })).status).toBe(404);
    expect((await c.action(env.admin, s.id, { shelveOffload: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    await expect(driver.getInfo(s.id)).rejects.toMatchObject({ code: 'DomainNotFound' });
    expect((await c.action(env.admin, s.id, { shelveOffload: null })).status).toBe(409);
    expect((await actionsOf(c, env, s.id)).slice(0, 4)).toEqual(['shelveOffload', 'shelve', 'unshelve', 'shelve']);
  });

  it('changePassword without a guest agent: 409 as Nova (QEMU guest agent is not enabled); the task ends', async () => {
    const r = await c.boot(env.admin, { name: 'no-agent', availability_zone: 'nova:noagent-1' });
    const s = await c.waitStatus(env.admin, r.json.server.id, 'ACTIVE');
    const res = await c.action(env.admin, s.id, { changePassword: { adminPass: 'Newpass1234' } });
    expect(res.status).toBe(409);
    expect(res.json.conflictingRequest.message).toMatch(/QEMU guest agent is not enabled/);
    expect((await c.show(env.admin, s.id)).json.server['OS-EXT-STS:task_state']).toBeNull();
    const [last] = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin)).json.instanceActions;
    expect(last).toMatchObject({ action: 'changePassword', message: expect.stringMatching(/guest agent/) });
  });

  it('the periodic offload (KUMO_COMPUTE_SHELVED_OFFLOAD_TIME > 0) offloads servers shelved for that long', async () => {
    const s = await c.bootActive(env.a, { name: 'timed' });
    expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHELVED');
    const conductor = env.svc.app.get(ConductorService);
    expect(await conductor.offloadShelved(3600)).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await conductor.offloadShelved(1)).toBe(1);
    await c.waitStatus(env.a, s.id, 'SHELVED_OFFLOADED');
    expect((await actionsOf(c, env, s.id))[0]).toBe('shelveOffload');
  });
});

describe('the reconciler ends server-action tasks whose agent went silent', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['quiet-1'], env: { KUMO_COMPUTE_SHELVED_OFFLOAD_TIME: '-1', KUMO_COMPUTE_TASK_TIMEOUT_S: '1', KUMO_COMPUTE_HOST_DOWN_S: '2' } });
    c = client(env);
  });
  afterAll(() => env?.close());

  it('rescue → ERROR, offload completes without the agent, unshelve goes back to SHELVED, an abandoned password change fails', async () => {
    const [a, off, back, pw] = await Promise.all(['r', 'o', 'u', 'p'].map((n) => c.bootActive(env.a, { name: `quiet-${n}` })));
    for (const s of [off!, back!]) expect((await c.action(env.a, s.id, { shelve: null })).status).toBe(202);
    for (const s of [off!, back!]) await c.waitStatus(env.a, s.id, 'SHELVED');
    await env.agent!.close();
    env.agent = undefined;
    expect((await c.action(env.a, a!.id, { rescue: null })).status).toBe(200);
    expect((await c.action(env.admin, off!.id, { shelveOffload: null })).status).toBe(202);
    expect((await c.action(env.a, back!.id, { unshelve: null })).status).toBe(202);
    // A password change whose API request died mid-call (the task is left behind).
    const db = env.svc.app.get(Db);
    await db.exec(`UPDATE ${db.t('instance')} SET task_state = 'updating_password', task_updated_at = now() - interval '1 hour', task_started_at = now() - interval '1 hour' WHERE id = $1`, [pw!.id]);
    await db.exec(`INSERT INTO ${db.t('instance_action')} (instance_id, request_id, action, project_id, user_id) VALUES ($1, 'req-lost', 'changePassword', $2, $3)`, [pw!.id, env.a.id, env.a.userId]);

    const errored = await c.waitStatus(env.a, a!.id, 'ERROR', 20000);
    expect(errored.fault.message).toMatch(/quiet-1 stopped responding; the rescuing task/);
    const db2 = env.svc.app.get(Db);
    expect((await db2.rows<{ rescue_image: unknown }>(`SELECT rescue_image FROM ${db2.t('instance')} WHERE id = $1`, [a!.id]))[0]!.rescue_image).toBeNull();
    await c.waitStatus(env.a, off!.id, 'SHELVED_OFFLOADED', 20000);
    expect((await c.show(env.admin, off!.id)).json.server['OS-EXT-SRV-ATTR:host']).toBeNull();
    await c.waitStatus(env.a, back!.id, 'SHELVED', 20000);
    const [unshelve] = (await c.r('GET', `/servers/${back!.id}/os-instance-actions`, env.a)).json.instanceActions;
    expect(unshelve).toMatchObject({ action: 'unshelve', message: expect.stringMatching(/did not report the unshelve/) });
    const done = await c.waitStatus(env.a, pw!.id, 'ACTIVE', 20000);
    expect(done['OS-EXT-STS:task_state']).toBeNull();
    const [change] = (await c.r('GET', `/servers/${pw!.id}/os-instance-actions`, env.a)).json.instanceActions;
    expect(change).toMatchObject({ action: 'changePassword', message: expect.stringMatching(/not confirmed/) });
    // Only the still-shelved server and the active one keep their claims on the dead host.
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors[0];
    expect(hv.running_vms).toBe(2);
  });
});
