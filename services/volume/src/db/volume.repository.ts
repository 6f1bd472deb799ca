import { Injectable } from '@nestjs/common';
import { Db, type Sql } from '@kumo/service-kit';
import type { Attachment, Volume } from '../volumes/volume.model.js';

type Row = Record<string, unknown>;

export interface NewVolume {
  id: string;
  projectId: string;
  userId: string | null;
  name: string | null;
  description: string | null;
  size: number;
  imageId: string | null;
  snapshotId?: string | null;
  metadata: Record<string, string>;
  createOwner: string;
}

function attachmentOf(r: Row): Attachment {
  return {
    id: r.id as string,
    volumeId: r.volume_id as string,
    serverId: r.server_id as string,
    status: r.status as Attachment['status'],
    host: (r.host as string | null) ?? null,
    device: (r.device as string | null) ?? null,
    reservedAt: r.reserved_at as Date,
    attachedAt: (r.attached_at as Date | null) ?? null,
  };
}

function volumeOf(r: Row, attachments: Attachment[]): Volume {
  return {
    id: r.id as string,
    projectId: r.project_id as string,
    userId: (r.user_id as string | null) ?? null,
    name: (r.name as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    size: Number(r.size),
    status: r.status as Volume['status'],
    bootable: r.bootable as boolean,
    imageId: (r.image_id as string | null) ?? null,
    snapshotId: (r.snapshot_id as string | null) ?? null,
    imageMetadata: (r.image_metadata as Record<string, string> | null) ?? null,
    metadata: (r.metadata as Record<string, string>) ?? {},
    createOwner: (r.create_owner as string | null) ?? null,
    failureReason: (r.failure_reason as string | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    attachments,
  };
}

/** Every SQL statement on volumes, attachments and the event outbox. */
@Injectable()
export class VolumeRepository {
  constructor(readonly db: Db) {}

  private get vol() {
    return this.db.t('volume');
  }
  private get att() {
    return this.db.t('volume_attachment');
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  private async withAttachments(sql: Sql, rows: Row[]): Promise<Volume[]> {
    if (!rows.length) return [];
    const atts = await sql.rows(`SELECT * FROM ${this.att} WHERE volume_id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
    const by = new Map<string, Attachment[]>();
    for (const a of atts.map(attachmentOf)) by.set(a.volumeId, [...(by.get(a.volumeId) ?? []), a]);
    return rows.map((r) => volumeOf(r, by.get(r.id as string) ?? []));
  }

  /** A live (not deleted) volume; `forUpdate` locks its row in `sql`'s transaction. */
  async get(id: string, sql: Sql = this.db, forUpdate = false): Promise<Volume | undefined> {
    const rows = await sql.rows(`SELECT * FROM ${this.vol} WHERE id = $1 AND status <> 'deleted'${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return (await this.withAttachments(sql, rows))[0];
  }

  /** Live volumes of one project (or of all, `projectId` null), newest first, keyset-paginated by `marker`. */
  async list(q: { projectId: string | null; name?: string; status?: string; limit: number; marker?: Volume }): Promise<Volume[]> {
    const where = [`status <> 'deleted'`];
    const params: unknown[] = [];
    if (q.projectId !== null) where.push(`project_id = $${params.push(q.projectId)}`);
    if (q.name !== undefined) where.push(`name = $${params.push(q.name)}`);
    if (q.status !== undefined) where.push(`status = $${params.push(q.status)}`);
    if (q.marker) where.push(`(created_at, id) < ($${params.push(q.marker.createdAt)}, $${params.push(q.marker.id)})`);
    const rows = await this.db.rows(`SELECT * FROM ${this.vol} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${params.push(q.limit)}`, params);
    return this.withAttachments(this.db, rows);
  }

  /** Volumes and gigabytes a project uses (every live volume counts, as in Cinder). */
  async usage(tx: Sql, projectId: string): Promise<{ volumes: number; gigabytes: number }> {
    // Snapshot sizes count in `gigabytes` too (Cinder's default, no_snapshot_gb_quota = false).
    const rows = await tx.rows<{ n: string; g: string | null; sg: string | null }>(
      `SELECT count(*) AS n, sum(size) AS g, (SELECT sum(size) FROM ${this.db.t('volume_snapshot')} WHERE project_id = $1 AND status <> 'deleted') AS sg
         FROM ${this.vol} WHERE project_id = $1 AND status <> 'deleted'`,
      [projectId],
    );
    return { volumes: Number(rows[0]!.n), gigabytes: Number(rows[0]!.g ?? 0) + Number(rows[0]!.sg ?? 0) };
  }

  /** Serialises quota checks of one project across replicas (held until the transaction ends). */
  async lockProject(tx: Sql, projectId: string): Promise<void> {
    await tx.rows(`SELECT pg_advisory_xact_lock(hashtext('kumo.volume.quota'), hashtext($1))`, [projectId]);
  }

  async insert(tx: Sql, v: NewVolume): Promise<void> {
    await tx.exec(
      `INSERT INTO ${this.vol} (id, project_id, user_id, name, description, size, status, image_id, metadata, create_owner, snapshot_id)
       VALUES ($1, $2, $3, $4, $5, $6, 'creating', $7, $8, $9, $10)`,
      [v.id, v.projectId, v.userId, v.name, v.description, v.size, v.imageId, JSON.stringify(v.metadata), v.createOwner, v.snapshotId ?? null],
    );
  }

  /** Compare-and-set of the status; returns false when the volume was not in `from`. */
  async setStatus(tx: Sql, id: string, from: readonly string[], to: string, extra: { failureReason?: string | null; bootable?: boolean; imageMetadata?: Record<string, string> | null; size?: number } = {}): Promise<boolean> {
    const sets = ['status = $3', 'updated_at = now()'];
    const params: unknown[] = [id, [...from], to];
    if (extra.failureReason !== undefined) sets.push(`failure_reason = $${params.push(extra.failureReason)}`);
    if (extra.bootable !== undefined) sets.push(`bootable = $${params.push(extra.bootable)}`);
    if (extra.imageMetadata !== undefined) sets.push(`image_metadata = $${params.push(extra.imageMetadata === null ? null : JSON.stringify(extra.imageMetadata))}`);
    if (extra.size !== undefined) sets.push(`size = $${params.push(extra.size)}`);
    if (to === 'deleted') sets.push('deleted_at = now()');
    if (to !== 'creating') sets.push('create_owner = NULL');
    return (await tx.exec(`UPDATE ${this.vol} SET ${sets.join(', ')} WHERE id = $1 AND status = ANY($2::text[])`, params)) === 1;
  }

  async update(tx: Sql, id: string, fields: { name?: string | null; description?: string | null; metadata?: Record<string, string>; bootable?: boolean }): Promise<void> {
    const sets = ['updated_at = now()'];
    const params: unknown[] = [id];
    if (fields.name !== undefined) sets.push(`name = $${params.push(fields.name)}`);
    if (fields.description !== undefined) sets.push(`description = $${params.push(fields.description)}`);
    if (fields.metadata !== undefined) sets.push(`metadata = $${params.push(JSON.stringify(fields.metadata))}`);
    if (fields.bootable !== undefined) sets.push(`bootable = $${params.push(fields.bootable)}`);
    await tx.exec(`UPDATE ${this.vol} SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  /** Volumes still `creating` whose creator is one of `owners`-not (a dead process) on this host. */
  async creatingOf(ownerPrefix: string): Promise<Volume[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.vol} WHERE status = 'creating' AND create_owner LIKE $1`, [`${ownerPrefix}%`]);
    return this.withAttachments(this.db, rows);
  }

  async withStatus(status: string): Promise<Volume[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.vol} WHERE status = $1`, [status]);
    return this.withAttachments(this.db, rows);
  }

  // ------------------------------------------------------------------ attachments

  /** Live snapshots of the volume (it cannot be deleted while there are any). */
  async snapshotCount(tx: Sql, volumeId: string): Promise<number> {
    const rows = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('volume_snapshot')} WHERE volume_id = $1 AND status <> 'deleted'`, [volumeId]);
    return Number(rows[0]!.n);
  }

  async insertAttachment(tx: Sql, a: { id: string; volumeId: string; serverId: string; held?: boolean }): Promise<void> {
    await tx.exec(`INSERT INTO ${this.att} (id, volume_id, server_id, status, held) VALUES ($1, $2, $3, 'reserved', $4)`, [a.id, a.volumeId, a.serverId, a.held === true]);
  }

  /** A reservation kept for a server without a host (held: never expired) or given to the usual timeout again. */
  async holdAttachment(tx: Sql, id: string, held: boolean): Promise<void> {
    await tx.exec(`UPDATE ${this.att} SET held = $2, reserved_at = now() WHERE id = $1`, [id, held]);
  }

  /** Attached on `host` (also a re-connection of an attached volume to the host its server moved to; null: no host now). */
  async completeAttachment(tx: Sql, id: string, host: string | null, device: string | null): Promise<void> {
    await tx.exec(`UPDATE ${this.att} SET status = 'attached', held = false, host = $2, device = $3, attached_at = now() WHERE id = $1`, [id, host, device]);
  }

  async deleteAttachment(tx: Sql, id: string): Promise<void> {
    await tx.exec(`DELETE FROM ${this.att} WHERE id = $1`, [id]);
  }

  /** Reservations older than `seconds` (the conductor that made them never attached nor gave them back). */
  async expiredReservations(seconds: number): Promise<Attachment[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.att} WHERE status = 'reserved' AND NOT held AND reserved_at < now() - make_interval(secs => $1)`, [seconds]);
    return rows.map(attachmentOf);
  }

  // ------------------------------------------------------------------ outbox

  /** Queues an event in the caller's transaction: it is published if and only if the change commits. */
  async enqueueEvent(tx: Sql, event: string, payload: unknown, requestId?: string): Promise<void> {
    await tx.exec(`INSERT INTO ${this.db.t('event_outbox')} (event, payload, request_id) VALUES ($1, $2, $3)`, [event, JSON.stringify(payload), requestId ?? null]);
  }
}
