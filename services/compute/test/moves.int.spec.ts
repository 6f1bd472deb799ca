import { FakeDriver, MigrationFailed, type MigrationOptions, type MigrationResult } from '@kumo/hypervisor';
import { waitUntil } from '@kumo/service-kit/testing';
import { client, type ComputeEnv, startComputeEnv } from './helpers.js';
import { tempestErrors } from './tempest/schemas.js';

/** A host whose outgoing live migrations fail mid-stream (the source keeps the domain, as QEMU's would). */
class FailingMigrationDriver extends FakeDriver {
  override async migrateOut(id: string, _uri: string, _opts?: MigrationOptions): Promise<MigrationResult> {
    throw new MigrationFailed(id, 'injected: connection to the destination was reset');
  }
}

const expectSchema = (name: string, res: { status: number; json: unknown }) => expect(tempestErrors(name, res.status, res.json)).toEqual([]);

interface Hv {
  hypervisor_hostname: string;
  vcpus: number;
  vcpus_used: number;
  memory_mb: number;
  memory_mb_used: number;
  running_vms: number;
}

describe('cold and live migration between fake hosts', () => {
  let env: ComputeEnv;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    // Small hosts (2 vCPUs, 2 GiB, no overcommit) so "no room here" is easy to reach.
    env = await startComputeEnv({
      hosts: ['m-1', 'm-2', 'm-bad'],
      capacity: { vcpus: 2, memoryMb: 2048, localGb: 50, cpuAllocationRatio: 1, ramAllocationRatio: 1 },
      driverFor: (host) => (host === 'm-bad' ? new FailingMigrationDriver({ host, checkFiles: false }) : new FakeDriver({ host, checkFiles: false })),
    });
    c = client(env);
    await c.r('PUT', `/os-quota-sets/${env.a.id}`, env.admin, { json: { quota_set: { instances: 50, cores: 50, ram: 100000 } } });
    const f = await c.r('POST', '/flavors', env.admin, { json: { flavor: { name: 'mv.big', id: 'mv-big', vcpus: 2, ram: 1024, disk: 1 } } });
    expect(f.status).toBe(200);
  }, 60000);
  afterAll(() => env?.close());
  // Every test starts on empty hosts (a failed test must not fill them for the next).
  afterEach(async () => {
    const all = (await c.r('GET', '/servers', env.admin)).json.servers as { id: string }[];
    for (const s of all) await c.r('DELETE', `/servers/${s.id}`, env.admin);
    for (const s of all) await waitUntil(`deleted ${s.id}`, async () => (await c.show(env.admin, s.id)).status === 404);
  });

  const hypervisors = async () => (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors as Hv[];
  const bootOn = async (host: string, name: string, flavorRef = '1') => c.bootActive(env.admin, { name, flavorRef, availability_zone: `nova:${host}` });
  const domainsOn = async (host: string) => (await env.drivers.get(host)!.listDomains()).map((d) => `${d.id}:${d.state}`);
  /** Usage booked on the hosts = what the instances' flavors need, and never over capacity. */
  const expectBooks = async () => {
    for (const h of await hypervisors()) {
      expect(h.vcpus_used).toBeLessThanOrEqual(h.vcpus);
      expect(h.memory_mb_used).toBeLessThanOrEqual(h.memory_mb);
    }
  };
  const cleanup = async (...ids: string[]) => {
    for (const id of ids) await c.r('DELETE', `/servers/${id}`, env.admin);
    for (const id of ids) await waitUntil(`deleted ${id}`, async () => (await c.show(env.admin, id)).status === 404);
  };

  it('migrate (admin) moves the server to another host; VERIFY_RESIZE; confirm destroys the source copy', async () => {
    const s = await bootOn('m-1', 'cold');
    expect((await c.action(env.a, s.id, { migrate: null })).status).toBe(403);
    expect((await c.action(env.admin, s.id, { migrate: null })).status).toBe(202);
    const moved = await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe('m-1');
    expect(moved.flavor.id).toBe('1');
    // The destination runs it; the source keeps a stopped copy until confirm.
    expect(await domainsOn(dest)).toContain(`${s.id}:running`);
    expect(await domainsOn('m-1')).toContain(`${s.id}:shutoff`);
    // Both hosts hold a claim until then.
    const during = await hypervisors();
    expect(during.find((h) => h.hypervisor_hostname === 'm-1')!.vcpus_used).toBe(1);
    expect(during.find((h) => h.hypervisor_hostname === dest)!.vcpus_used).toBe(1);
    const migrations = await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin);
    expectSchema('migrations.list_migrations', migrations);
    expect(migrations.json.migrations[0]).toMatchObject({ instance_uuid: s.id, source_compute: 'm-1', dest_compute: dest, status: 'finished' });
    expect((await c.r('GET', '/os-migrations', env.a)).status).toBe(403);

    expect((await c.action(env.admin, s.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, s.id, 'ACTIVE');
    await waitUntil('source copy destroyed', async () => !(await domainsOn('m-1')).some((d) => d.startsWith(s.id)));
    const after = await hypervisors();
    expect(after.find((h) => h.hypervisor_hostname === 'm-1')).toMatchObject({ vcpus_used: 0, running_vms: 0 });
    expect(after.find((h) => h.hypervisor_hostname === dest)).toMatchObject({ vcpus_used: 1, running_vms: 1 });
    expect((await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin)).json.migrations[0].status).toBe('confirmed');
    const actions = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin);
    expect(actions.json.instanceActions.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['confirmResize', 'migrate']);
    await cleanup(s.id);
  });

  it('2.56: migrate to a named host (the scheduler still checks it); its own host, an unknown or refused host and bad bodies are 400; a host is refused below 2.56', async () => {
    const s = await bootOn('m-1', 'cold56');
    const at = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });
    const migrate = (body: unknown, v = '2.56', who = env.admin) => c.r('POST', `/servers/${s.id}/action`, who, { headers: at(v), json: { migrate: body } });
    expect((await migrate({ host: 'm-2' }, '2.55')).status).toBe(400);
    for (const bad of ['m-2', [], { host: 5 }, { host: '' }, { host: 'a'.repeat(256) }, { host: 'no such/host' }, { host: 'm-2', force: true }]) {
      expect([bad, (await migrate(bad)).status]).toEqual([bad, 400]);
    }
    const same = await migrate({ host: 'm-1' });
    expect([same.status, same.json.badRequest?.message]).toEqual([400, 'Cannot migrate to the host where the server exists.']);
    const unknown = await migrate({ host: 'nowhere' });
    expect([unknown.status, unknown.json.badRequest?.message]).toEqual([400, 'Compute host nowhere could not be found.']);
    expect((await migrate({ host: 'm-2' }, '2.56', env.a)).status).toBe(403);
    // A disabled host does not pass the scheduler's filters even when named.
    expect((await c.r('PUT', '/os-services/disable', env.admin, { json: { host: 'm-2', binary: 'nova-compute' } })).status).toBe(200);
    try {
      const refused = await migrate({ host: 'm-2' });
      expect([refused.status, refused.json.badRequest?.message]).toEqual([400, expect.stringContaining('m-2')]);
    } finally {
      await c.r('PUT', '/os-services/enable', env.admin, { json: { host: 'm-2', binary: 'nova-compute' } });
    }
    expect((await c.show(env.admin, s.id)).json.server).toMatchObject({ status: 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'm-1' });

    expect((await migrate({ host: 'm-2' })).status).toBe(202);
    const moved = await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
    expect(moved['OS-EXT-SRV-ATTR:host']).toBe('m-2');
    expect((await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin)).json.migrations[0]).toMatchObject({ source_compute: 'm-1', dest_compute: 'm-2' });
    expect((await c.action(env.admin, s.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, s.id, 'ACTIVE');
    // `host: null` (and `{}`) leave the choice to the scheduler, as `migrate: null`.
    expect((await migrate({ host: null })).status).toBe(202);
    const again = await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
    expect(again['OS-EXT-SRV-ATTR:host']).not.toBe('m-2');
    expect((await c.action(env.admin, s.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, s.id, 'ACTIVE');
    await expectBooks();
    await cleanup(s.id);
  });

  it('2.59: os-migrations pages (limit, marker = uuid, changes-since), shows uuid and refuses unknown query parameters; below, as before', async () => {
    const s = await bootOn('m-1', 'pages59');
    const v = (x: string) => ({ headers: { 'OpenStack-API-Version': `compute ${x}` } });
    for (const host of ['m-2', 'm-1', 'm-2']) {
      expect((await c.r('POST', `/servers/${s.id}/action`, env.admin, { ...v('2.56'), json: { migrate: { host } } })).status).toBe(202);
      await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
      expect((await c.action(env.admin, s.id, { confirmResize: null })).status).toBe(204);
      await c.waitStatus(env.admin, s.id, 'ACTIVE');
    }
    const url = `/os-migrations?instance_uuid=${s.id}`;
    const all = await c.r('GET', url, env.admin, v('2.59'));
    expectSchema('v2_59/migrations.list_migrations', all);
    const ms = all.json.migrations as { id: number; uuid: string; dest_compute: string; updated_at: string }[];
    expect(ms.map((m) => m.dest_compute)).toEqual(['m-2', 'm-1', 'm-2']);
    expect(new Set(ms.map((m) => m.uuid)).size).toBe(3);
    expect(all.json.migrations_links).toBeUndefined();

    // A full page links to the next (Nova's migrations_links; Tempest's schema has no such key: its tests do not page).
    const page1 = await c.r('GET', `${url}&limit=2`, env.admin, v('2.59'));
    expect(page1.json.migrations.map((m: { id: number }) => m.id)).toEqual([ms[0]!.id, ms[1]!.id]);
    const next = new URL(page1.json.migrations_links[0].href);
    expect([next.pathname, next.searchParams.get('marker'), next.searchParams.get('instance_uuid'), next.searchParams.get('limit')]).toEqual(['/v2.1/os-migrations', ms[1]!.uuid, s.id, '2']);
    const page2 = await c.r('GET', `${url}&limit=2&marker=${ms[1]!.uuid}`, env.admin, v('2.59'));
    expect([page2.json.migrations.map((m: { id: number }) => m.id), page2.json.migrations_links]).toEqual([[ms[2]!.id], undefined]);
    for (const marker of ['00000000-0000-4000-8000-000000000000', String(ms[0]!.id)]) {
      const bad = await c.r('GET', `${url}&marker=${marker}`, env.admin, v('2.59'));
      expect([bad.status, bad.json.badRequest?.message]).toEqual([400, `Marker ${marker} could not be found.`]);
    }
    const since = await c.r('GET', `${url}&changes-since=${encodeURIComponent(ms[1]!.updated_at)}Z`, env.admin, v('2.59'));
    expect(since.json.migrations.map((m: { id: number }) => m.id)).toEqual([ms[0]!.id, ms[1]!.id]);
    expect((await c.r('GET', `${url}&changes-since=2999-01-01T00:00:00Z`, env.admin, v('2.59'))).json.migrations).toEqual([]);
    for (const q of ['changes-since=soon', 'limit=-1', 'sort_key=id', 'user_id=x']) expect([q, (await c.r('GET', `${url}&${q}`, env.admin, v('2.59'))).status]).toEqual([q, 400]);
    expect((await c.r('GET', url, env.a, v('2.59'))).status).toBe(403);

    // Below 2.59: no uuid, every migration, paging and unknown parameters ignored.
    const old = await c.r('GET', `${url}&limit=1&marker=nope&sort_key=id`, env.admin, v('2.58'));
    expectSchema('v2_23/migrations.list_migrations', old);
    expect(old.json.migrations).toHaveLength(3);
    expect(old.json.migrations[0].uuid).toBeUndefined();
    await cleanup(s.id);
  });

  it('revertResize after a move brings the server back to its source as it was', async () => {
    const s = await bootOn('m-2', 'revert');
    expect((await c.action(env.admin, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.admin, s.id, 'SHUTOFF');
    expect((await c.action(env.admin, s.id, { migrate: null })).status).toBe(202);
    const moved = await c.waitStatus(env.admin, s.id, 'VERIFY_RESIZE');
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    expect(dest).not.toBe('m-2');
    // A stopped server stays stopped on the destination.
    expect(await domainsOn(dest)).toContain(`${s.id}:shutoff`);
    expect((await c.action(env.admin, s.id, { revertResize: null })).status).toBe(202);
    const back = await c.waitStatus(env.admin, s.id, 'SHUTOFF');
    expect(back['OS-EXT-SRV-ATTR:host']).toBe('m-2');
    expect(await domainsOn(dest)).not.toContain(`${s.id}:shutoff`);
    expect(await domainsOn('m-2')).toContain(`${s.id}:shutoff`);
    expect((await hypervisors()).find((h) => h.hypervisor_hostname === dest)!.vcpus_used).toBe(0);
    expect((await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin)).json.migrations[0].status).toBe('reverted');
    await cleanup(s.id);
  });

  it('resize moves to another host when its own host has no room; wrong states are 409', async () => {
    await bootOn('m-bad', 'filler', 'mv-big');
    const s1 = await bootOn('m-1', 'full-1');
    const s2 = await bootOn('m-1', 'full-2');
    // m-1 is full (2 of 2 vCPUs): resizing s1 to 2 vCPUs must go elsewhere (m-2).
    const r = await c.action(env.admin, s1.id, { resize: { flavorRef: 'mv-big' } });
    expect([r.status, r.text]).toEqual([202, '']);
    const resized = await c.waitStatus(env.admin, s1.id, 'VERIFY_RESIZE');
    expect(resized['OS-EXT-SRV-ATTR:host']).toBe('m-2');
    expect(resized.flavor.id).toBe('mv-big');
    expect((await env.drivers.get(resized['OS-EXT-SRV-ATTR:host'])!.getInfo(s1.id)).spec.cpu.vcpus).toBe(2);
    await expectBooks();
    // Nothing fits a second 2-vCPU resize now.
    const none = await c.action(env.admin, s2.id, { resize: { flavorRef: 'mv-big' } });
    expect(none.status).toBe(400);
    expect(none.json.badRequest.message).toMatch(/No valid host/);
    expect((await c.action(env.admin, s1.id, { migrate: null })).status).toBe(409);
    expect((await c.action(env.admin, s1.id, { confirmResize: null })).status).toBe(204);
    await c.waitStatus(env.admin, s1.id, 'ACTIVE');
    await expectBooks();
    expect((await hypervisors()).find((h) => h.hypervisor_hostname === 'm-1')!.vcpus_used).toBe(1);
    await cleanup(s1.id, s2.id);
  });

  it('2.22/2.24: force_complete and abort of a running live migration (2.23 lists it); Nova errors; 404 below those versions', async () => {
    const at = (v: string) => ({ headers: { 'OpenStack-API-Version': `compute ${v}` } });
    const s = await bootOn('m-1', 'lmctl');
    const src = env.drivers.get('m-1')!;
    const live = { 'os-migrateLive': { host: 'm-2', block_migration: false } };
    // A copy that takes a while, so there is a running migration to act on.
    src.migrationMs = 20000;
    try {
      expect((await c.r('POST', `/servers/${s.id}/action`, env.admin, { ...at('2.25'), json: live })).status).toBe(202);
      await waitUntil('incoming domain on m-2', async () => (await domainsOn('m-2')).includes(`${s.id}:migrating`));
      const listed = await c.r('GET', `/servers/${s.id}/migrations`, env.admin, at('2.23'));
      expect(listed.json.migrations).toHaveLength(1);
      const mid = listed.json.migrations[0].id as number;
      expectSchema('v2_23/migrations.list_migrations', await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin, at('2.23')));
      // 2.59: the server's migrations carry the uuid os-migrations shows.
      const own = (await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin, at('2.59'))).json.migrations[0];
      expect((await c.r('GET', `/servers/${s.id}/migrations`, env.admin, at('2.59'))).json.migrations[0]).toMatchObject({ id: mid, uuid: own.uuid });
      expect((await c.r('GET', `/servers/${s.id}/migrations/${mid}`, env.admin, at('2.59'))).json.migration).toMatchObject({ id: mid, uuid: own.uuid });
      expect(listed.json.migrations[0].uuid).toBeUndefined();
      const force = { json: { force_complete: null } };
      expect((await c.r('POST', `/servers/${s.id}/migrations/${mid}/action`, env.admin, { ...at('2.21'), ...force })).status).toBe(404);
      expect((await c.r('DELETE', `/servers/${s.id}/migrations/${mid}`, env.admin, at('2.23'))).status).toBe(404);
      // Another project does not see the server; members may not act (admin policy).
      expect((await c.r('DELETE', `/servers/${s.id}/migrations/${mid}`, env.a, at('2.24'))).status).toBe(404);
      expect((await c.r('POST', `/servers/${s.id}/migrations/999999/action`, env.admin, { ...at('2.22'), ...force })).json.badRequest.message).toBe(`Migration 999999 not found for instance ${s.id}`);
      expect((await c.r('DELETE', `/servers/${s.id}/migrations/999999`, env.admin, at('2.24'))).status).toBe(404);
      expect((await c.r('POST', `/servers/${s.id}/migrations/${mid}/action`, env.admin, { ...at('2.22'), json: { force_complete: {} } })).status).toBe(400);

      const abort = await c.r('DELETE', `/servers/${s.id}/migrations/${mid}`, env.admin, at('2.24'));
      expect([abort.status, abort.text]).toEqual([202, '']);
      const stayed = await c.waitStatus(env.admin, s.id, 'ACTIVE');
      expect(stayed['OS-EXT-SRV-ATTR:host']).toBe('m-1');
      expect(await domainsOn('m-1')).toContain(`${s.id}:running`);
      expect((await domainsOn('m-2')).some((d) => d.startsWith(s.id))).toBe(false);
      const cancelled = await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin, at('2.24'));
      expect(cancelled.json.migrations[0]).toMatchObject({ id: mid, status: 'cancelled' });
      // Over: no task any more (409), as Nova's check_instance_state.
      const late = await c.r('DELETE', `/servers/${s.id}/migrations/${mid}`, env.admin, at('2.24'));
      expect(late.json.conflictingRequest.message).toBe(`Cannot 'abort live migration' instance ${s.id} while it is in task_state None`);

      // Force-complete: over at once (the source pauses), running on the destination afterwards.
      const t0 = Date.now();
      expect((await c.r('POST', `/servers/${s.id}/action`, env.admin, { ...at('2.25'), json: live })).status).toBe(202);
      await waitUntil('incoming domain on m-2', async () => (await domainsOn('m-2')).includes(`${s.id}:migrating`));
      const mid2 = (await c.r('GET', `/servers/${s.id}/migrations`, env.admin, at('2.23'))).json.migrations[0].id as number;
      const forced = await c.r('POST', `/servers/${s.id}/migrations/${mid2}/action`, env.admin, { ...at('2.22'), ...force });
      expect([forced.status, forced.text]).toEqual([202, '']);
      const moved = await c.waitStatus(env.admin, s.id, 'ACTIVE');
      expect(moved['OS-EXT-SRV-ATTR:host']).toBe('m-2');
      expect(Date.now() - t0).toBeLessThan(15000);
      await waitUntil('resumed on m-2', async () => (await domainsOn('m-2')).includes(`${s.id}:running`));
      const actions = (await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin)).json.instanceActions.map((a: { action: string }) => a.action);
      expect(actions).toEqual(expect.arrayContaining(['live_migration_cancel', 'live_migration_force_complete']));
    } finally {
      src.migrationMs = 0;
    }
    await cleanup(s.id);
  });

  it('os-migrateLive moves a running server; claims follow; same host and non-admin are refused', async () => {
    const s = await bootOn('m-1', 'live');
    const body = { 'os-migrateLive': { host: null, block_migration: false, disk_over_commit: false } };
    expect((await c.action(env.a, s.id, body)).status).toBe(403);
    const self = await c.action(env.admin, s.id, { 'os-migrateLive': { host: 'm-1', block_migration: false, disk_over_commit: false } });
    expect(self.status).toBe(400);
    expect((await c.action(env.admin, s.id, { 'os-migrateLive': { host: null, block_migration: false } })).status).toBe(400);
    const go = await c.action(env.admin, s.id, { 'os-migrateLive': { host: 'm-2', block_migration: false, disk_over_commit: false } });
    expect([go.status, go.text]).toEqual([202, '']);
    const moved = await c.waitStatus(env.admin, s.id, 'ACTIVE');
    expect(moved['OS-EXT-SRV-ATTR:host']).toBe('m-2');
    expect(await domainsOn('m-2')).toContain(`${s.id}:running`);
    expect((await domainsOn('m-1')).some((d) => d.startsWith(s.id))).toBe(false);
    const hv = await hypervisors();
    expect(hv.find((h) => h.hypervisor_hostname === 'm-1')).toMatchObject({ vcpus_used: 0, running_vms: 0 });
    expect(hv.find((h) => h.hypervisor_hostname === 'm-2')).toMatchObject({ vcpus_used: 1, running_vms: 1 });
    const m = await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin);
    expectSchema('migrations.list_migrations', m);
    expect(m.json.migrations[0]).toMatchObject({ status: 'completed', source_compute: 'm-1', dest_compute: 'm-2' });
    // The moved server still acts on its new host.
    expect((await c.action(env.admin, s.id, { pause: null })).status).toBe(202);
    await c.waitStatus(env.admin, s.id, 'PAUSED');
    expect(await domainsOn('m-2')).toContain(`${s.id}:paused`);
    // A paused server migrates live too; back to a named host.
    expect((await c.action(env.admin, s.id, { 'os-migrateLive': { host: 'm-1', block_migration: false, disk_over_commit: false } })).status).toBe(202);
    const back = await c.waitStatus(env.admin, s.id, 'PAUSED');
    expect(back['OS-EXT-SRV-ATTR:host']).toBe('m-1');
    // Wrong state: a stopped server cannot migrate live.
    expect((await c.action(env.admin, s.id, { unpause: null })).status).toBe(202);
    await c.waitStatus(env.admin, s.id, 'ACTIVE');
    expect((await c.action(env.admin, s.id, { 'os-stop': null })).status).toBe(202);
    await c.waitStatus(env.admin, s.id, 'SHUTOFF');
    const stopped = await c.action(env.admin, s.id, body);
    expect(stopped.status).toBe(409);
    expect(stopped.json.conflictingRequest.message).toMatch(/vm_state stopped/);
    await expectBooks();
    await cleanup(s.id);
  });

  it('a failed live migration leaves the server ACTIVE on its source; the action event shows the error', async () => {
    const s = await bootOn('m-bad', 'doomed');
    const go = await c.action(env.admin, s.id, { 'os-migrateLive': { host: 'm-1', block_migration: false, disk_over_commit: false } });
    expect([go.status, go.text]).toEqual([202, '']);
    await waitUntil('migration failed', async () => (await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin)).json.migrations[0]?.status === 'error');
    const after = await c.waitStatus(env.admin, s.id, 'ACTIVE');
    expect(after['OS-EXT-SRV-ATTR:host']).toBe('m-bad');
    expect(await domainsOn('m-bad')).toContain(`${s.id}:running`);
    // The destination's half-started copy and claim are gone.
    expect((await domainsOn('m-1')).some((d) => d.startsWith(s.id))).toBe(false);
    expect((await hypervisors()).find((h) => h.hypervisor_hostname === 'm-1')!.vcpus_used).toBe(0);
    const actions = await c.r('GET', `/servers/${s.id}/os-instance-actions`, env.admin);
    const live = actions.json.instanceActions.find((a: { action: string }) => a.action === 'live-migration');
    const detail = await c.r('GET', `/servers/${s.id}/os-instance-actions/${live.request_id}`, env.admin);
    expectSchema('servers.show_instance_action', detail);
    expect(detail.json.instanceAction.events[0]).toMatchObject({ result: 'Error', traceback: expect.stringMatching(/connection to the destination was reset/) });
    await cleanup(s.id);
  });
});

describe('the reconciler ends a live migration whose agent went silent', () => {
  let env: ComputeEnv;
  beforeAll(async () => {
    env = await startComputeEnv({ hosts: ['q-1', 'q-2'], env: { KUMO_COMPUTE_TASK_TIMEOUT_S: '1', KUMO_COMPUTE_HOST_DOWN_S: '2' } });
  }, 60000);
  afterAll(() => env?.close());

  it('MIGRATING on a host that stopped reporting ends in ERROR; the destination claim is released', async () => {
    const c = client(env);
    const s = await c.bootActive(env.admin, { name: 'silent', availability_zone: 'nova:q-1' });
    await env.agent!.close();
    env.agent = undefined;
    // q-2's last heartbeat is still fresh: the scheduler takes it; the source never answers.
    expect((await c.action(env.admin, s.id, { 'os-migrateLive': { host: 'q-2', block_migration: false, disk_over_commit: false } })).status).toBe(202);
    expect((await c.show(env.admin, s.id)).json.server.status).toBe('MIGRATING');
    const errored = await c.waitStatus(env.admin, s.id, 'ERROR', 20000);
    expect(errored.fault.message).toMatch(/q-1 stopped responding; the migrating task was abandoned/);
    const m = await c.r('GET', `/os-migrations?instance_uuid=${s.id}`, env.admin);
    expect(m.json.migrations[0].status).toBe('error');
    const hv = (await c.r('GET', '/os-hypervisors/detail', env.admin)).json.hypervisors as Hv[];
    expect(hv.every((h) => h.vcpus_used === 0)).toBe(true);
  });
});
