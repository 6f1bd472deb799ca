import { Db } from '../src/db/db.js';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

// Server APIs Tempest's compute group found missing: os-resetState, os-server-password,
// os-server-external-events, OS-DCF:diskConfig, console output of any state and length,
// changes-since validation, simple-tenant-usage with an empty tenant id.

let env: ComputeEnv;
let c: ReturnType<typeof client>;
let db: Db;

beforeAll(async () => {
  env = await startComputeEnv({ hosts: ['gap-1'] });
  c = client(env);
  db = env.svc.app.get(Db);
  await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 30, cores: 30, ram: 100000 } } });
});
afterAll(() => env?.close());

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);
const v247 = { 'OpenStack-API-Version': 'compute 2.47' };
const claimsOf = async (id: string) => (await db.rows<{ n: number }>(`SELECT count(*)::int AS n FROM ${db.t('claim')} WHERE instance_id = $1`, [id]))[0]!.n;

describe('os-resetState', () => {
  it('sets vm_state (active|error), clears the task, records the action; admin only', async () => {
    const s = await c.bootActive(env.a, { name: 'reset-me' });
    const toError = await c.action(env.admin, s.id, { 'os-resetState': { state: 'error' } });
    expect(toError.status).toBe(202);
    const err = (await c.show(env.a, s.id)).json.server;
    expect(err).toMatchObject({ status: 'ERROR', 'OS-EXT-STS:vm_state': 'error', 'OS-EXT-STS:task_state': null });
    // The domain is not touched.
    expect((await env.drivers.get('gap-1')!.getInfo(s.id)).state).toBe('running');
    // Listed by status=ERROR (Tempest's test_list_servers_filter_by_error_status).
    expect((await c.r('GET', '/servers?status=error', env.a)).json.servers.map((x: { id: string }) => x.id)).toContain(s.id);
    expect((await c.action(env.admin, s.id, { 'os-resetState': { state: 'active' } })).status).toBe(202);
    expect((await c.show(env.a, s.id)).json.server.status).toBe('ACTIVE');

    const actions = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.a);
    expect(actions.json.instanceActions.filter((a: { action: string }) => a.action === 'resetState')).toHaveLength(2);

    // Nova's schema: only active|error, a string, `state` required, nothing else.
    for (const body of [{ state: 'invalid' }, { state: 1 }, {}, { state: 'error', x: 1 }, null]) {
      const bad = await c.action(env.admin, s.id, { 'os-resetState': body });
      expect(bad.status).toBe(400);
      expect(bad.json.badRequest.code).toBe(400);
    }
    expect((await c.action(env.admin, '999', { 'os-resetState': { state: 'error' } })).status).toBe(404);
    // Policy: a member of the project is refused (403), another project does not see it (404).
    const member = await c.action(env.a, s.id, { 'os-resetState': { state: 'error' } });
    expect(member.status).toBe(403);
    expect(member.json.forbidden.message).toMatch(/reset_state/);
    expect((await c.action(env.readerA, s.id, { 'os-resetState': { state: 'error' } })).status).toBe(403);
    expect((await c.action(env.b, s.id, { 'os-resetState': { state: 'error' } })).status).toBe(404);
    expect((await c.show(env.a, s.id)).json.server.status).toBe('ACTIVE');
  });

  it('ends a stuck task in any vm_state; actions work again', async () => {
    const s = await c.bootActive(env.a, { name: 'stuck' });
    // A task whose agent never answers (as after a lost host), in a vm_state reset must leave.
    await db.exec(`UPDATE ${db.t('instance')} SET vm_state = 'paused', task_state = 'unpausing', task_host = 'gone-host' WHERE id = $1`, [s.id]);
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(409);
    expect((await c.action(env.admin, s.id, { 'os-resetState': { state: 'active' } })).status).toBe(202);
    const [row] = await db.rows<{ vm_state: string; task_state: string | null; task_host: string | null }>(`SELECT vm_state, task_state, task_host FROM ${db.t('instance')} WHERE id = $1`, [s.id]);
    expect(row).toEqual({ vm_state: 'active', task_state: null, task_host: null });
    // Actions work again.
    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
  });

  it('an ERROR server is deleted with its claim released (Tempest’s test_delete_server_while_in_error_state)', async () => {
    const s = await c.bootActive(env.a, { name: 'err-delete' });
    expect(await claimsOf(s.id)).toBe(1);
    const used = async () => (await db.rows<{ n: number }>(`SELECT memory_mb_used::int AS n FROM ${db.t('compute_node')} WHERE host = 'gap-1'`))[0]!.n;
    const before = await used();
    await c.action(env.admin, s.id, { 'os-resetState': { state: 'error' } });
    expect((await c.r('DELETE', `/servers/${s.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, s.id, 'DELETED');
    expect(await claimsOf(s.id)).toBe(0);
    expect(await used()).toBe(before - 512);
    await expect(env.drivers.get('gap-1')!.getInfo(s.id)).rejects.toThrow();

    // Also one reset to ERROR in the middle of its delete (task 'deleting' cleared): a new delete finishes it.
    const t = await c.bootActive(env.a, { name: 'err-delete-2' });
    await db.exec(`UPDATE ${db.t('instance')} SET task_state = 'deleting', desired_power = 'absent', task_host = 'gone-host' WHERE id = $1`, [t.id]);
    await c.action(env.admin, t.id, { 'os-resetState': { state: 'error' } });
    expect((await c.r('DELETE', `/servers/${t.id}`, env.a)).status).toBe(204);
    await c.waitStatus(env.a, t.id, 'DELETED');
    expect(await claimsOf(t.id)).toBe(0);
  });
});

describe('os-server-password', () => {
  it('shows the encrypted password ("" when none) and clears it; readers read, members clear', async () => {
    const s = await c.bootActive(env.a, { name: 'pw' });
    const empty = await c.r('GET', `/servers/${s.id}/os-server-password`, env.a);
    expectSchema('servers.show_password', empty);
    expect(empty.json).toEqual({ password: '' });
    // What a guest posts through the metadata service (Kumo has none yet): set in the row.
    await db.exec(`UPDATE ${db.t('instance')} SET password = 'c2VjcmV0LWVuY3J5cHRlZA==' WHERE id = $1`, [s.id]);
    expect((await c.r('GET', `/servers/${s.id}/os-server-password`, env.readerA)).json).toEqual({ password: 'c2VjcmV0LWVuY3J5cHRlZA==' });
    expect((await c.r('DELETE', `/servers/${s.id}/os-server-password`, env.readerA)).status).toBe(403);
    expect((await c.r('GET', `/servers/${s.id}/os-server-password`, env.b)).status).toBe(404);
    expect((await c.r('DELETE', `/servers/${s.id}/os-server-password`, env.b)).status).toBe(404);
    const cleared = await c.r('DELETE', `/servers/${s.id}/os-server-password`, env.a);
    // Tempest's server_actions_delete_password: 204, no body.
    expect(cleared.status).toBe(204);
    expect(cleared.text).toBe('');
    expect((await c.r('GET', `/servers/${s.id}/os-server-password`, env.a)).json).toEqual({ password: '' });
    expect((await c.r('GET', `/servers/00000000-0000-0000-0000-000000000000/os-server-password`, env.a)).status).toBe(404);
  });
});

describe('os-server-external-events', () => {
  it('accepts events per server: 200 all, 207 mixed (404 unknown, 422 no host), 404 none; network-changed marks the ports for a refresh', async () => {
    const s = await c.bootActive(env.a, { name: 'events' });
    const seq = async (id: string) => (await db.rows<{ n: string }>(`SELECT network_refresh_seq AS n FROM ${db.t('instance')} WHERE id = $1`, [id]))[0]!.n;
    const before = await seq(s.id);
    const ok = await c.r('POST', '/os-server-external-events', env.admin, { json: { events: [{ name: 'network-changed', server_uuid: s.id }] } });
    expectSchema('server_external_events.create', ok);
    expect(ok.json.events).toEqual([{ name: 'network-changed', server_uuid: s.id, code: 200 }]);
    expect(Number(await seq(s.id))).toBeGreaterThan(Number(before));

    const unknown = '0b5f3d1c-1e25-4c47-9d59-2a3f4f0ab001';
    const noHost = await c.bootActive(env.a, { name: 'no-host' });
    await db.exec(`UPDATE ${db.t('instance')} SET host = NULL WHERE id = $1`, [noHost.id]);
    const mixed = await c.r('POST', '/os-server-external-events', env.admin, {
      json: {
        events: [
          { name: 'network-vif-plugged', server_uuid: s.id, status: 'completed', tag: 'port-1' },
          { name: 'network-vif-plugged', server_uuid: unknown },
          { name: 'network-vif-unplugged', server_uuid: noHost.id, status: 'in-progress' },
        ],
      },
    });
    expect(mixed.status).toBe(207);
    expect(mixed.json.events).toEqual([
      { name: 'network-vif-plugged', server_uuid: s.id, status: 'completed', tag: 'port-1', code: 200 },
      { name: 'network-vif-plugged', server_uuid: unknown, status: 'failed', code: 404 },
      { name: 'network-vif-unplugged', server_uuid: noHost.id, status: 'failed', code: 422 },
    ]);
    const none = await c.r('POST', '/os-server-external-events', env.admin, { json: { events: [{ name: 'network-changed', server_uuid: unknown }] } });
    expect(none.status).toBe(404);
    expect(none.json.itemNotFound.message).toBe('No instances found for any event');

    // Nova's body schema; volume-extended only from 2.51 (above Kumo's 2.47).
    for (const body of [
      {},
      { events: [] },
      { events: [{ name: 'network-changed' }] },
      { events: [{ name: 'bogus', server_uuid: s.id }] },
      { events: [{ name: 'network-changed', server_uuid: 'not-a-uuid' }] },
      { events: [{ name: 'network-changed', server_uuid: s.id, status: 'done' }] },
      { events: [{ name: 'network-changed', server_uuid: s.id, extra: 1 }] },
      { events: [{ name: 'network-changed', server_uuid: s.id, tag: 'x'.repeat(256) }] },
      { events: [{ name: 'volume-extended', server_uuid: s.id, tag: 'vol' }] },
    ]) {
      const bad = await c.r('POST', '/os-server-external-events', env.admin, { json: body, headers: v247 });
      expect([JSON.stringify(body), bad.status]).toEqual([JSON.stringify(body), 400]);
    }
    // Admin only (Nova's default): members and readers of the server's project are refused.
    expect((await c.r('POST', '/os-server-external-events', env.a, { json: { events: [{ name: 'network-changed', server_uuid: s.id }] } })).status).toBe(403);
    expect((await c.r('POST', '/os-server-external-events', env.readerA, { json: { events: [{ name: 'network-changed', server_uuid: s.id }] } })).status).toBe(403);
  });
});

describe('OS-DCF:diskConfig', () => {
  it('is taken on create, update, rebuild and resize (AUTO|MANUAL, 400 otherwise) and shown in every server view', async () => {
    const created = await c.boot(env.a, { name: 'dcf', 'OS-DCF:diskConfig': 'AUTO' });
    expectSchema('servers.create_server_with_admin_pass', created);
    expect(created.json.server['OS-DCF:diskConfig']).toBe('AUTO');
    const id = created.json.server.id;
    const active = await c.waitStatus(env.a, id, 'ACTIVE');
    expect(active['OS-DCF:diskConfig']).toBe('AUTO');
    const detail = await c.r('GET', '/servers/detail', env.a);
    expect(detail.json.servers.find((x: { id: string }) => x.id === id)['OS-DCF:diskConfig']).toBe('AUTO');
    expect((await c.boot(env.a, { name: 'dcf-bad', 'OS-DCF:diskConfig': 'auto' })).status).toBe(400);
    // A server created without it is MANUAL.
    const plain = await c.bootActive(env.a, { name: 'dcf-plain' });
    expect(plain['OS-DCF:diskConfig']).toBe('MANUAL');

    const up = await c.r('PUT', `/servers/${id}`, env.a, { json: { server: { 'OS-DCF:diskConfig': 'MANUAL' } } });
    expectSchema('servers.update_server', up);
    expect(up.json.server['OS-DCF:diskConfig']).toBe('MANUAL');
    expect((await c.r('PUT', `/servers/${id}`, env.a, { json: { server: { 'OS-DCF:diskConfig': 'NONE' } } })).status).toBe(400);

    const rb = await c.action(env.a, id, { rebuild: { imageRef: env.image.publicId, 'OS-DCF:diskConfig': 'AUTO' } });
    expectSchema('servers.rebuild_server_with_admin_pass', rb);
    expect(rb.json.server['OS-DCF:diskConfig']).toBe('AUTO');
    expect((await c.waitStatus(env.a, id, 'ACTIVE'))['OS-DCF:diskConfig']).toBe('AUTO');
    expect((await c.action(env.a, id, { rebuild: { imageRef: env.image.publicId, 'OS-DCF:diskConfig': 1 } })).status).toBe(400);

    expect((await c.action(env.a, id, { resize: { flavorRef: '84', 'OS-DCF:diskConfig': 'BAD' } })).status).toBe(400);
    expect((await c.action(env.a, id, { resize: { flavorRef: '84', 'OS-DCF:diskConfig': 'MANUAL' } })).status).toBe(202);
    expect((await c.waitStatus(env.a, id, 'VERIFY_RESIZE'))['OS-DCF:diskConfig']).toBe('MANUAL');
    expect((await c.action(env.a, id, { confirmResize: null })).status).toBe(204);
    expect((await c.waitStatus(env.a, id, 'ACTIVE'))['OS-DCF:diskConfig']).toBe('MANUAL');
  });
});

describe('os-getConsoleOutput', () => {
  it('answers for a SHUTOFF server; length: lines as Nova tails them, null/-1/"-1" the whole log, 0 nothing, bad values 400', async () => {
    const s = await c.bootActive(env.a, { name: 'console' });
    const out = (length?: unknown) => c.action(env.a, s.id, { 'os-getConsoleOutput': length === undefined ? {} : { length } });
    const whole = await out();
    expectSchema('servers.get_console_output', whole);
    expect(whole.json.output.split('\n').length).toBeGreaterThan(3);
    for (const l of [null, -1, '-1']) expect((await out(l)).json.output).toBe(whole.json.output);
    // Tempest's _get_output: exactly 3 pieces when split on newlines.
    const three = await out(3);
    expect(three.json.output.split('\n')).toHaveLength(3);
    expect(whole.json.output.endsWith(three.json.output)).toBe(true);
    expect((await out('3')).json.output).toBe(three.json.output);
    expect((await out(0)).json.output).toBe('');
    for (const l of ['abc', -2, '-2', 1.5, true, '3 ']) expect([l, (await out(l)).status]).toEqual([l, 400]);
    expect((await c.action(env.a, s.id, { 'os-getConsoleOutput': { length: 1, lines: 2 } })).status).toBe(400);
    expect((await c.action(env.a, s.id, { 'os-getConsoleOutput': null })).status).toBe(400);

    expect((await c.action(env.a, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.a, s.id, 'SHUTOFF');
    const off = await out(3);
    expect(off.status).toBe(200);
    expectSchema('servers.get_console_output', off);
    expect(off.json.output.split('\n')).toHaveLength(3);
    // Another project: 404; a reader cannot (servers:action).
    expect((await c.action(env.b, s.id, { 'os-getConsoleOutput': {} })).status).toBe(404);
    expect((await c.action(env.readerA, s.id, { 'os-getConsoleOutput': {} })).status).toBe(403);
  });
});

describe('list and usage validation', () => {
  it('changes-since must be an ISO 8601 time (400 for 2011/01/01)', async () => {
    const s = await c.bootActive(env.a, { name: 'since' });
    const bad = await c.r('GET', '/servers?changes-since=2011/01/01', env.a);
    expect(bad.status).toBe(400);
    expect(bad.json.badRequest.message).toMatch(/changes-since/);
    for (const v of ['2011-01-01', '2011-01-01T12:34:00Z', encodeURIComponent('2011-01-01T12:34:00.123456+02:00'), '20110101T123400Z']) {
      const ok = await c.r('GET', `/servers?changes-since=${v}`, env.a);
      expect([v, ok.status]).toEqual([v, 200]);
      expect(ok.json.servers.map((x: { id: string }) => x.id)).toContain(s.id);
    }
    const future = await c.r('GET', `/servers?changes-since=${new Date(Date.now() + 3600_000).toISOString()}`, env.a);
    expect(future.json.servers).toEqual([]);
    expect((await c.r('GET', '/servers/detail?changes-since=2011-13-01', env.a)).status).toBe(400);
  });

  it('os-simple-tenant-usage/ (an empty tenant id) is a 404; the list without the slash still answers', async () => {
    const q = 'start=2020-01-01T00:00:00&end=2030-01-01T00:00:00';
    const empty = await c.r('GET', `/os-simple-tenant-usage/?${q}`, env.admin);
    expect(empty.status).toBe(404);
    expect(empty.json.itemNotFound.code).toBe(404);
    expect((await c.r('GET', `/os-simple-tenant-usage?${q}`, env.admin)).status).toBe(200);
  });
});
