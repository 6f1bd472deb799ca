import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { ConductorService } from '../conductor/conductor.service.js';
import { boolish, invalid, isAdmin, type Json } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';
import { EventRelay } from '../events/event-relay.js';
import { FlavorsService } from '../flavors/flavors.service.js';
import { QuotaService } from '../quotas/quota.service.js';
import { NoValidHost, SchedulerService } from '../scheduler/scheduler.service.js';
import type { FlavorSnapshot, InstanceRow } from './instance.model.js';
import { InstancesRepository, type MigrationRow } from './instances.repository.js';
import { flavorSnapshot, ServersService } from './servers.service.js';
import { generatePassword } from './server-actions.service.js';
import { restingPower } from './state-machine.js';

function lastSegment(ref: string): string {
  const m = /([^/]+)\/?$/.exec(ref);
  return m ? m[1]! : ref;
}

/**
 * Resize, cold migration and live migration (Nova's compute/api.py resize + live_migrate and the
 * conductor's migrate_server), as tasks of the state machine:
 *
 * - resize / migrate: the new flavor (migrate: the same one) is claimed in the API's transaction,
 *   in place when the host has room (resize only) or on another host the scheduler picks under
 *   `SELECT … FOR UPDATE` (no valid host → 400, as Nova's synchronous migrate_server). In place,
 *   the host's agent re-creates the domain. Elsewhere, two steps: the source agent powers the
 *   domain off (`task_host` = source), then the destination's agent creates it
 *   (`resize_finish`); VERIFY_RESIZE. confirmResize has the source's agent destroy its copy,
 *   revertResize has the destination's agent destroy its copy and the source start its own again.
 * - live migration: the destination is claimed the same way (claim `migration`), the source's agent
 *   streams the running domain to the destination's agent; the report moves the instance and its
 *   claims; a failure leaves it running on the source with the error in the migration and the
 *   instance action.
 */
@Injectable()
export class MovesService {
  constructor(
    private readonly db: Db,
    private readonly repo: InstancesRepository,
    private readonly servers: ServersService,
    private readonly flavors: FlavorsService,
    private readonly quotas: QuotaService,
    private readonly scheduler: SchedulerService,
    private readonly conductor: ConductorService,
    private readonly relay: EventRelay,
    private readonly policy: PolicyService,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  private async flavorSeq(tx: Sql, flavorId: string): Promise<number | null> {
    const [f] = await tx.rows<{ seq: string }>(`SELECT seq FROM ${this.db.t('flavor')} WHERE id = $1`, [flavorId]);
    return f ? Number(f.seq) : null;
  }

  private async newMigration(tx: Sql, i: InstanceRow, type: MigrationRow['migration_type'], dest: string | null, newFlavor: FlavorSnapshot, status: string, error?: string): Promise<number> {
    const [m] = await tx.rows<{ id: number }>(
      `INSERT INTO ${this.db.t('migration')} (uuid, instance_id, project_id, user_id, migration_type, status, source_compute, dest_compute, old_flavor_seq, new_flavor_seq, source_spec_version, error)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id`,
      [randomUUID(), i.id, i.project_id, i.user_id, type, status, i.host, dest, await this.flavorSeq(tx, i.flavor.id), await this.flavorSeq(tx, newFlavor.id), i.spec_version, error ?? null],
    );
    return m!.id;
  }

  /** Claims `flavor` in place (resize only) or elsewhere and returns the instance patch that starts the move. */
  private async startMove(tx: Sql, i: InstanceRow, flavor: FlavorSnapshot, type: 'resize' | 'migration', host?: string): Promise<Record<string, unknown>> {
    let dest: string | undefined;
    // Resize stays on its host when that host has room (cheapest: no copy); migrate never does.
    if (type === 'resize' && (await this.scheduler.claimResize(tx, i, flavor))) dest = i.host!;
    if (!dest) {
      try {
        dest = await this.scheduler.claimMove(tx, i, flavor, 'resize', { host });
      } catch (err) {
        if (err instanceof NoValidHost) throw ApiError.badRequest(type === 'resize' ? `${err.message} Host ${i.host} has not enough capacity for flavor ${flavor.name} and no other host has.` : err.message);
        throw err;
      }
    }
    const inPlace = dest === i.host;
    const migrationId = await this.newMigration(tx, i, type, dest, flavor, inPlace ? 'migrating' : 'pre-migrating');
    const common = { old_flavor: i.flavor, flavor, vcpus: flavor.vcpus, memory_mb: flavor.ram, root_gb: flavor.disk, migration_id: migrationId, target_vm_state: 'resized' };
    if (inPlace) return { ...common, spec_version: i.spec_version + 1, desired_power: restingPower(i.vm_state) };
    // Another host: first the source's agent powers the domain off (a real disk would be copied
    // now); its report hands the task to the destination (ConductorService.onReport).
    return { ...common, task_host: i.host, desired_power: 'shutoff' };
  }

  async resize(auth: AuthContext, id: string, flavorRef: string, requestId: string, diskConfig?: 'AUTO' | 'MANUAL'): Promise<void> {
    const flavor = await this.flavors.usable(auth, lastSegment(flavorRef));
    const snap = flavorSnapshot(flavor);
    await this.servers.act(
      auth,
      id,
      'resize',
      requestId,
      async (tx, i) => {
        if (i.flavor.id === flavor.id) throw ApiError.badRequest('When resizing, instances must change flavor!');
        if (flavor.root_gb < i.flavor.disk) throw ApiError.badRequest('Resizing to a flavor with a smaller disk is not allowed.');
        await this.quotas.lockProject(tx, i.project_id);
        await this.quotas.instancesAllowed(tx, i.project_id, Math.max(0, snap.vcpus - i.vcpus), Math.max(0, snap.ram - i.memory_mb), 1, 1, { instances: -1 });
        const patch = await this.startMove(tx, i, snap, 'resize');
        return diskConfig ? { ...patch, disk_config: diskConfig } : patch;
      },
      'resize',
    );
  }

  /**
   * `{"migrate": null}` (admin): a resize to the same flavor on another host. 2.56:
   * `{"migrate": {"host": "name"}}` names the destination, which still has to pass the
   * scheduler's filters (unlike a forced live migration): its own host → 400 "Cannot migrate to
   * the host where the server exists.", an unknown one → 400 "Compute host X could not be found."
   * (both after the lock and state checks, as Nova's compute API), one the filters refuse → 400.
   */
  async migrate(auth: AuthContext, id: string, arg: unknown, requestId: string, version = 2001): Promise<void> {
    this.policy.enforce('servers:migrate', auth);
    const host = version >= 2056 ? migrateHostOf(arg) : undefined;
    if (version < 2056 && arg !== null && arg !== undefined && (typeof arg !== 'object' || Array.isArray(arg) || Object.keys(arg).length)) throw invalid('migrate', arg, "Additional properties are not allowed (only 'migrate': null)");
    await this.servers.act(
      auth,
      id,
      'migrate',
      requestId,
      async (tx, i) => {
        if (host !== undefined && host === i.host) throw ApiError.badRequest('Cannot migrate to the host where the server exists.');
        if (host !== undefined && !(await tx.rows(`SELECT 1 FROM ${this.db.t('compute_node')} WHERE host = $1`, [host])).length) {
          throw ApiError.badRequest(`Compute host ${host} could not be found.`);
        }
        return this.startMove(tx, i, i.flavor, 'migration', host);
      },
      'migrate',
    );
  }

  async confirmResize(auth: AuthContext, id: string, requestId: string): Promise<void> {
    let inPlace = false;
    const updated = await this.servers.act(
      auth,
      id,
      'confirm_resize',
      requestId,
      async (tx, i) => {
        const restingVm = i.desired_power === 'shutoff' ? 'stopped' : 'active';
        const m = await this.repo.migration(tx, i.migration_id);
        if (!m || m.source_compute === m.dest_compute) {
          inPlace = true;
          await this.repo.releaseClaim(tx, i.id, 'instance');
          await this.repo.relabelClaim(tx, i.id, 'resize', 'instance');
          await this.repo.setMigration(tx, i.migration_id, 'confirmed');
          return { old_flavor: null, target_vm_state: restingVm, migration_id: null };
        }
        // The destination's claim becomes the instance's; the source's stays booked until its agent
        // has destroyed the old domain (then the report releases it).
        await this.repo.relabelClaim(tx, i.id, 'instance', 'source');
        await this.repo.relabelClaim(tx, i.id, 'resize', 'instance');
        await this.repo.setMigration(tx, m.id, 'confirming');
        return { old_flavor: null, target_vm_state: restingVm, task_host: m.source_compute, desired_power: 'absent' };
      },
      'confirmResize',
    );
    if (inPlace) {
      // Nothing for the agent to do: finish the task here.
      await this.db.transaction(async (tx) => {
        const i = await this.repo.lock(tx, updated.id);
        if (!i || i.task_state !== 'resize_confirming') return;
        await this.repo.update(tx, i, { task_state: null, vm_state: i.target_vm_state ?? 'active' }, requestId);
        await this.repo.finishAction(tx, i.id, true);
      });
      this.relay.kick();
    }
  }

  async revertResize(auth: AuthContext, id: string, requestId: string): Promise<void> {
    await this.servers.act(
      auth,
      id,
      'revert_resize',
      requestId,
      async (tx, i) => {
        const restingVm = i.desired_power === 'shutoff' ? 'stopped' : 'active';
        const m = await this.repo.migration(tx, i.migration_id);
        await this.repo.setMigration(tx, i.migration_id, 'reverting');
        if (!m || m.source_compute === m.dest_compute) {
          await this.repo.releaseClaim(tx, i.id, 'resize');
          const old = i.old_flavor ?? i.flavor;
          return { flavor: old, old_flavor: null, vcpus: old.vcpus, memory_mb: old.ram, root_gb: old.disk, spec_version: i.spec_version + 1, target_vm_state: restingVm };
        }
        // First the destination's agent destroys its copy; its report sends the task back to the source.
        return { target_vm_state: restingVm, desired_power: 'absent' };
      },
      'revertResize',
    );
  }

  /**
   * `os-migrateLive` (admin). Body by microversion: 2.1 `{host, block_migration: bool,
   * disk_over_commit: bool}` (all required); 2.25 `block_migration` may be "auto" and
   * `disk_over_commit` is gone; 2.30 adds `force`. Below 2.34 a destination that cannot take the
   * instance is a 400; from 2.34 the checks run after the 202 and a failure shows in the
   * migration (status error) and the instance action.
   */
  async liveMigrate(auth: AuthContext, id: string, arg: unknown, requestId: string, version: number): Promise<void> {
    this.policy.enforce('servers:migrate_live', auth);
    if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw invalid('os-migrateLive', arg, "is not of type 'object'");
    const b = arg as Json;
    const allowed = ['host', 'block_migration', ...(version < 2025 ? ['disk_over_commit'] : []), ...(version >= 2030 ? ['force'] : [])];
    for (const k of Object.keys(b)) if (!allowed.includes(k)) throw invalid('os-migrateLive', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    const required = ['host', 'block_migration', ...(version < 2025 ? ['disk_over_commit'] : [])];
    for (const k of required) if (!(k in b)) throw ApiError.badRequest(`Invalid input for field/attribute os-migrateLive. '${k}' is a required property`);
    if (b.host !== null && (typeof b.host !== 'string' || !b.host || b.host.length > 255)) throw invalid('host', b.host, "is not of type 'string', 'null'");
    if (!(version >= 2025 && b.block_migration === 'auto')) boolish(b.block_migration, 'block_migration');
    if (version < 2025) boolish(b.disk_over_commit, 'disk_over_commit');
    const force = version >= 2030 ? (boolish(b.force, 'force') ?? false) : false;
    const host = (b.host as string | null) ?? undefined;
    let deferredError: string | undefined;
    const updated = await this.servers.act(
      auth,
      id,
      'live_migrate',
      requestId,
      async (tx, i) => {
        if (host && host === i.host) {
          const msg = `Unable to migrate instance (${i.id}) to current host (${host}).`;
          if (version < 2034) throw ApiError.badRequest(msg);
          deferredError = msg;
        }
        let dest: string | null = null;
        if (!deferredError) {
          try {
            dest = await this.scheduler.claimMove(tx, i, i.flavor, 'migration', { host, force: force && !!host });
          } catch (err) {
            if (!(err instanceof NoValidHost)) throw err;
            if (version < 2034) throw ApiError.badRequest(err.message);
            deferredError = err.message;
          }
        }
        const migrationId = await this.newMigration(tx, i, 'live-migration', dest, i.flavor, deferredError ? 'error' : 'running', deferredError);
        return { migration_id: migrationId };
      },
      'live-migration',
    );
    // 2.34: the checks failed after the 202 was decided; end the task at once, the instance stays where it is.
    if (deferredError) await this.conductor.endMoveFailed(updated.id, deferredError, requestId);
  }

  /**
   * `evacuate` (admin): rebuild the server on another host because its own host's compute service
   * is down (forced down, or no heartbeat for KUMO_COMPUTE_HOST_DOWN_S) — Nova's
   * api/openstack/compute/evacuate.py and compute/api.py evacuate. Body by microversion: 2.1
   * `{host?, onSharedStorage (required), adminPass?}`; 2.14 without onSharedStorage; 2.29 `force`
   * (skip the scheduler's filters for the named host). Errors as Nova: policy 403; bad body, force
   * without host, the server's own host, a source service still up (ComputeServiceInUse) 400; an
   * unknown host 404; vm_state other than active/stopped/error or a task 409. The destination is
   * claimed (claim `migration`) in the same transaction as the task starts, with the migration row
   * (`evacuation`, `accepted`); no valid host → the server ends in ERROR after the answer, migration
   * `error` (Nova's conductor does the same). Then the conductor rebinds the ports and re-attaches
   * the volumes to the destination and its agent spawns the domain (ConductorService.evacuateStep).
   * Returns the admin password (answered below 2.14).
   */
  async evacuate(auth: AuthContext, id: string, arg: unknown, requestId: string, version: number): Promise<string | null> {
    this.policy.enforce('servers:evacuate', auth);
    if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw invalid('evacuate', arg, "is not of type 'object'");
    const b = arg as Json;
    const allowed = ['host', 'adminPass', ...(version < 2014 ? ['onSharedStorage'] : []), ...(version >= 2029 ? ['force'] : [])];
    for (const k of Object.keys(b)) if (!allowed.includes(k)) throw invalid('evacuate', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    if (version < 2014 && !('onSharedStorage' in b)) throw ApiError.badRequest("Invalid input for field/attribute evacuate. 'onSharedStorage' is a required property");
    if (b.host !== undefined && (typeof b.host !== 'string' || !b.host || b.host.length > 255)) throw invalid('host', b.host, "is not of type 'string'");
    if (b.adminPass !== undefined && typeof b.adminPass !== 'string') throw invalid('adminPass', b.adminPass, "is not of type 'string'");
    const shared = version < 2014 ? (boolish(b.onSharedStorage, 'onSharedStorage') ?? false) : false;
    const force = version >= 2029 ? (boolish(b.force, 'force') ?? false) : false;
    const host = b.host as string | undefined;
    if (force && !host) throw ApiError.badRequest("Can't force to a non-provided destination");
    let password: string | null;
    if (version >= 2014) password = (b.adminPass as string | undefined) ?? generatePassword();
    else if (b.adminPass !== undefined) {
      if (shared) throw ApiError.badRequest("admin password can't be changed on existing disk");
      password = b.adminPass as string;
    } else password = shared ? null : generatePassword();
    if (host && !(await this.db.rows(`SELECT 1 FROM ${this.db.t('compute_node')} WHERE host = $1`, [host])).length) throw ApiError.notFound(`Compute host ${host} not found.`);
    const seen = await this.servers.find(auth, id);
    if (host && seen.host === host) throw ApiError.badRequest("The target host can't be the same one.");
    let noHost: string | undefined;
    const updated = await this.servers.act(
      auth,
      id,
      'evacuate',
      requestId,
      async (tx, i) => {
        const [svc] = i.host
          ? await tx.rows<{ up: boolean }>(`SELECT last_heartbeat > now() - make_interval(secs => $2) AND NOT forced_down AS up FROM ${this.db.t('compute_node')} WHERE host = $1`, [i.host, this.config.KUMO_COMPUTE_HOST_DOWN_S])
          : [];
        if (!i.host || svc?.up) throw ApiError.badRequest(`Compute service of ${i.host ?? 'None'} is still in use.`);
        let dest: string | null = null;
        try {
          dest = await this.scheduler.claimMove(tx, i, i.flavor, 'migration', { host, force });
        } catch (err) {
          if (!(err instanceof NoValidHost)) throw err;
          noHost = err.message;
        }
        const migrationId = await this.newMigration(tx, i, 'evacuation', dest, i.flavor, noHost ? 'error' : 'accepted', noHost);
        // Stopped stays stopped (Nova's rebuild with recreate); active and error come back running.
        const target = i.vm_state === 'stopped' ? 'stopped' : 'active';
        return { migration_id: migrationId, task_host: dest, target_vm_state: target, desired_power: restingPower(target) };
      },
      'evacuate',
    );
    if (noHost) await this.conductor.fail(updated.id, `No valid host was found. ${noHost}`, requestId);
    return password;
  }

  /**
   * 2.22 force_complete / 2.24 abort of a live migration, with Nova's checks and errors: the
   * server (404), lock (409), `task_state migrating` (409, and force also needs vm_state active),
   * the migration of that server (force: 400, abort: 404) in status `running` (else 400). The
   * action is recorded, then the source's agent is asked (Nova casts): force pauses the source so
   * the copy converges, abort cancels it and the report ends the migration `cancelled`. A
   * migration that ended meanwhile is left as it is.
   */
  async controlLiveMigration(auth: AuthContext, id: string, migrationRef: string, op: 'force_complete' | 'abort', requestId: string): Promise<void> {
    const force = op === 'force_complete';
    const { i, migrationId } = await this.db.transaction(async (tx) => {
      const seen = await this.servers.find(auth, id, tx);
      this.policy.enforce(force ? 'servers:migrations:force_complete' : 'servers:migrations:delete', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      const action = force ? 'force_complete' : 'abort live migration';
      if (force && i.vm_state !== 'active') throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      if (i.task_state !== 'migrating') throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in task_state ${i.task_state ?? 'None'}`);
      const [m] = /^\d+$/.test(migrationRef) ? await tx.rows<MigrationRow>(`SELECT * FROM ${this.db.t('migration')} WHERE id = $1 AND instance_id = $2`, [Number(migrationRef), i.id]) : [];
      if (!m) {
        const msg = `Migration ${migrationRef} not found for instance ${i.id}`;
        throw force ? ApiError.badRequest(msg) : ApiError.notFound(msg);
      }
      if (m.status !== 'running') throw ApiError.badRequest(`Migration ${m.id} state of instance ${i.id} is ${m.status}. Cannot ${force ? 'force complete' : 'abort live migration'} while the migration is in this state.`);
      // Its own action, ended at once: the live-migration action stays the open one the report ends.
      await this.repo.startAction(tx, i, force ? 'live_migration_force_complete' : 'live_migration_cancel', auth.userId, requestId);
      await this.repo.finishAction(tx, i.id, true);
      return { i, migrationId: Number(m.id) };
    });
    // Like Nova's cast, an agent that cannot be reached changes nothing: the migration goes on and ends as it would.
    await this.conductor.controlMigration(i, migrationId, op).catch(() => false);
  }
}

/** The 2.56 migrate body: null, or an object with nothing but an optional `host` (a hostname or null). */
function migrateHostOf(arg: unknown): string | undefined {
  if (arg === null || arg === undefined) return undefined;
  if (typeof arg !== 'object' || Array.isArray(arg)) throw invalid('migrate', arg, "is not of type 'object', 'null'");
  const b = arg as Json;
  for (const k of Object.keys(b)) if (k !== 'host') throw invalid('migrate', b, `Additional properties are not allowed ('${k}' was unexpected)`);
  if (b.host === undefined || b.host === null) return undefined;
  if (typeof b.host !== 'string') throw invalid('host', b.host, "is not of type 'string', 'null'");
  if (!/^[a-zA-Z0-9._-]{1,255}$/.test(b.host)) throw invalid('host', b.host, b.host.length > 255 ? `'${b.host}' is too long` : `'${b.host}' is not a valid hostname`);
  return b.host;
}
