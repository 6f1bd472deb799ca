import { Injectable } from '@nestjs/common';
import { Db, type Sql } from '../db/db.js';
import { eventOf, type InstanceRow } from './instance.model.js';

/** SQL of the instance table and its side tables (actions, claims, outbox). */
@Injectable()
export class InstancesRepository {
  constructor(readonly db: Db) {}

  t(name: string) {
    return this.db.t(name);
  }

  async get(id: string, sql: Sql = this.db): Promise<InstanceRow | undefined> {
    if (!isUuid(id)) return undefined;
    return (await sql.rows<InstanceRow>(`SELECT * FROM ${this.t('instance')} WHERE id = $1`, [id]))[0];
  }

  async lock(tx: Sql, id: string): Promise<InstanceRow | undefined> {
    if (!isUuid(id)) return undefined;
    return (await tx.rows<InstanceRow>(`SELECT * FROM ${this.t('instance')} WHERE id = $1 FOR UPDATE`, [id]))[0];
  }

  /**
   * Updates columns of one instance and queues `instance.state_changed` in the same transaction
   * when vm_state, task_state or power_state changed.
   */
  async update(tx: Sql, before: InstanceRow, patch: Record<string, unknown>, requestId?: string): Promise<InstanceRow> {
    const cols = Object.keys(patch);
    const sets = cols.map((c, i) => `${c} = $${i + 2}`);
    const values = cols.map((c) => {
      const v = patch[c];
      return v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v;
    });
    const [after] = await tx.rows<InstanceRow>(`UPDATE ${this.t('instance')} SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING *`, [before.id, ...values]);
    if (after!.vm_state !== before.vm_state || after!.task_state !== before.task_state || after!.power_state !== before.power_state) {
      const event = after!.vm_state === 'deleted' ? 'instance.deleted' : 'instance.state_changed';
      const payload = event === 'instance.deleted' ? { instance: eventOf(after!) } : { instance: eventOf(after!), previous: { vmState: before.vm_state, taskState: before.task_state } };
      await this.queueEvent(tx, event, payload, requestId);
    }
    return after!;
  }

  async queueEvent(tx: Sql, event: string, payload: unknown, requestId?: string): Promise<void> {
    await tx.exec(`INSERT INTO ${this.t('event_outbox')} (event, payload, request_id) VALUES ($1, $2, $3)`, [event, JSON.stringify(payload), requestId ?? null]);
  }

  async startAction(tx: Sql, i: InstanceRow, action: string, userId: string, requestId: string): Promise<void> {
    await tx.exec(`INSERT INTO ${this.t('instance_action')} (instance_id, request_id, action, project_id, user_id) VALUES ($1,$2,$3,$4,$5)`, [i.id, requestId, action, i.project_id, userId]);
  }

  /** Ends the newest open action of an instance. */
  async finishAction(tx: Sql, instanceId: string, ok: boolean, message?: string): Promise<void> {
    await tx.exec(
      `UPDATE ${this.t('instance_action')} SET finish_time = now(), result = $2, message = COALESCE($3, message)
        WHERE id = (SELECT id FROM ${this.t('instance_action')} WHERE instance_id = $1 AND finish_time IS NULL ORDER BY id DESC LIMIT 1)`,
      [instanceId, ok ? 'Success' : 'Error', message ?? null],
    );
  }

  /** Releases a claim once (DELETE … RETURNING), giving its resources back to the host. */
  async releaseClaim(tx: Sql, instanceId: string, kind: string): Promise<void> {
    const rows = await tx.rows<{ host: string; vcpus: number; memory_mb: number; disk_gb: number }>(`DELETE FROM ${this.t('claim')} WHERE instance_id = $1 AND kind = $2 RETURNING *`, [instanceId, kind]);
    for (const c of rows) {
      await tx.exec(
        `UPDATE ${this.t('compute_node')} SET vcpus_used = vcpus_used - $2, memory_mb_used = memory_mb_used - $3, local_gb_used = local_gb_used - $4, running_vms = running_vms - $5 WHERE host = $1`,
        [c.host, c.vcpus, c.memory_mb, c.disk_gb, kind === 'instance' ? 1 : 0],
      );
    }
  }

  async releaseAllClaims(tx: Sql, instanceId: string): Promise<void> {
    for (const kind of CLAIM_KINDS) await this.releaseClaim(tx, instanceId, kind);
  }

  /**
   * Re-labels a claim (e.g. a move's claim on the destination becomes the instance's claim).
   * Only `instance` claims count in running_vms, so the count follows the label.
   */
  async relabelClaim(tx: Sql, instanceId: string, from: ClaimKind, to: ClaimKind): Promise<void> {
    const rows = await tx.rows<{ host: string }>(`UPDATE ${this.t('claim')} SET kind = $3 WHERE instance_id = $1 AND kind = $2 RETURNING host`, [instanceId, from, to]);
    const delta = (to === 'instance' ? 1 : 0) - (from === 'instance' ? 1 : 0);
    for (const c of rows) if (delta) await tx.exec(`UPDATE ${this.t('compute_node')} SET running_vms = running_vms + $2 WHERE host = $1`, [c.host, delta]);
  }

  /** Sets the status of a move (and its error), stamping updated_at. */
  async setMigration(tx: Sql, id: number | null, status: string, error?: string): Promise<void> {
    if (!id) return;
    await tx.exec(`UPDATE ${this.t('migration')} SET status = $2, error = COALESCE($3, error), updated_at = now() WHERE id = $1`, [id, status, error ?? null]);
  }

  async migration(sql: Sql, id: number | null): Promise<MigrationRow | undefined> {
    if (!id) return undefined;
    return (await sql.rows<MigrationRow>(`SELECT * FROM ${this.t('migration')} WHERE id = $1`, [id]))[0];
  }
}

/**
 * Claim labels: `instance` (where the instance lives), `resize` (a resize/cold migration's
 * destination until confirm/revert), `migration` (a live migration's destination while it runs),
 * `source` (a confirmed move's source until its domain is gone).
 */
export const CLAIM_KINDS = ['instance', 'resize', 'migration', 'source'] as const;
export type ClaimKind = (typeof CLAIM_KINDS)[number];

export interface MigrationRow {
  id: number;
  uuid: string;
  instance_id: string;
  project_id: string;
  user_id: string;
  migration_type: 'migration' | 'resize' | 'live-migration' | 'evacuation';
  status: string;
  source_compute: string | null;
  dest_compute: string | null;
  old_flavor_seq: number | null;
  new_flavor_seq: number | null;
  source_spec_version: number | null;
  error: string | null;
  created_at: Date;
  updated_at: Date | null;
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
