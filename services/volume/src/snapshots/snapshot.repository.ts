import { Injectable } from '@nestjs/common';
import { Db, type Sql } from '@kumo/service-kit';

export type SnapshotStatus = 'creating' | 'available' | 'deleting' | 'error' | 'error_deleting' | 'deleted';

export interface Snapshot {
  id: string;
  volumeId: string;
  projectId: string;
  userId: string | null;
  name: string | null;
  description: string | null;
  size: number;
  status: SnapshotStatus;
  metadata: Record<string, string>;
  createOwner: string | null;
  failureReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

type Row = Record<string, unknown>;

/** Columns a snapshot list may be sorted by (Cinder's sort keys; `display_name` is `name`). */
export const SORT_COLUMNS = ['created_at', 'updated_at', 'id', 'name', 'status', 'size', 'volume_id'];

function snapshotOf(r: Row): Snapshot {
  return {
    id: r.id as string,
    volumeId: r.volume_id as string,
    projectId: r.project_id as string,
    userId: (r.user_id as string | null) ?? null,
    name: (r.name as string | null) ?? null,
    description: (r.description as string | null) ?? null,
    size: Number(r.size),
    status: r.status as SnapshotStatus,
    metadata: (r.metadata as Record<string, string>) ?? {},
    createOwner: (r.create_owner as string | null) ?? null,
    failureReason: (r.failure_reason as string | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
  };
}

/** Every SQL statement on volume snapshots. */
@Injectable()
export class SnapshotRepository {
  constructor(readonly db: Db) {}

  private get t() {
    return this.db.t('volume_snapshot');
  }

  /** A live (not deleted) snapshot; `forUpdate` locks its row in `sql`'s transaction. */
  async get(id: string, sql: Sql = this.db, forUpdate = false): Promise<Snapshot | undefined> {
    const rows = await sql.rows(`SELECT * FROM ${this.t} WHERE id = $1 AND status <> 'deleted'${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] ? snapshotOf(rows[0]) : undefined;
  }

  /**
   * Live snapshots of one project (or of all, `projectId` null) in `sort` order (a column of
   * SORT_COLUMNS, then id), at most 10 000: the caller pages with marker/offset/limit.
   */
  async list(q: { projectId: string | null; volumeId?: string; name?: string; status?: string; sort: { column: string; desc: boolean } }): Promise<Snapshot[]> {
    const where = [`status <> 'deleted'`];
    const params: unknown[] = [];
    if (q.projectId !== null) where.push(`project_id = $${params.push(q.projectId)}`);
    if (q.volumeId !== undefined) where.push(`volume_id::text = $${params.push(q.volumeId)}`);
    if (q.name !== undefined) where.push(`name = $${params.push(q.name)}`);
    if (q.status !== undefined) where.push(`status = $${params.push(q.status)}`);
    if (!SORT_COLUMNS.includes(q.sort.column)) throw new Error(`not a sort column: ${q.sort.column}`);
    const dir = q.sort.desc ? 'DESC' : 'ASC';
    const rows = await this.db.rows(`SELECT * FROM ${this.t} WHERE ${where.join(' AND ')} ORDER BY ${q.sort.column} ${dir}, id ${dir} LIMIT 10000`, params);
    return rows.map(snapshotOf);
  }

  async update(tx: Sql, id: string, fields: { name?: string | null; description?: string | null; metadata?: Record<string, string> }): Promise<void> {
    const sets = ['updated_at = now()'];
    const params: unknown[] = [id];
    if (fields.metadata !== undefined) sets.push(`metadata = $${params.push(JSON.stringify(fields.metadata))}`);
    if (fields.name !== undefined) sets.push(`name = $${params.push(fields.name)}`);
    if (fields.description !== undefined) sets.push(`description = $${params.push(fields.description)}`);
    await tx.exec(`UPDATE ${this.t} SET ${sets.join(', ')} WHERE id = $1`, params);
  }

  /** How many live snapshots depend on the volume (it cannot be deleted while there are any). */
  async countOf(tx: Sql, volumeId: string): Promise<number> {
    const rows = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.t} WHERE volume_id = $1 AND status <> 'deleted'`, [volumeId]);
    return Number(rows[0]!.n);
  }

  /** The project's live snapshots and their gigabytes (Cinder counts snapshot sizes in `gigabytes` too). */
  async usage(tx: Sql, projectId: string): Promise<{ snapshots: number; gigabytes: number }> {
    const rows = await tx.rows<{ n: string; g: string | null }>(`SELECT count(*) AS n, sum(size) AS g FROM ${this.t} WHERE project_id = $1 AND status <> 'deleted'`, [projectId]);
    return { snapshots: Number(rows[0]!.n), gigabytes: Number(rows[0]!.g ?? 0) };
  }

  async insert(tx: Sql, s: { id: string; volumeId: string; projectId: string; userId: string | null; name: string | null; description: string | null; size: number; metadata: Record<string, string>; createOwner: string }): Promise<void> {
    await tx.exec(
      `INSERT INTO ${this.t} (id, volume_id, project_id, user_id, name, description, size, status, metadata, create_owner)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'creating', $8, $9)`,
      [s.id, s.volumeId, s.projectId, s.userId, s.name, s.description, s.size, JSON.stringify(s.metadata), s.createOwner],
    );
  }

  /** Compare-and-set of the status; returns false when the snapshot was not in `from`. */
  async setStatus(tx: Sql, id: string, from: readonly string[], to: SnapshotStatus, failureReason?: string): Promise<boolean> {
    const sets = ['status = $3', 'updated_at = now()'];
    const params: unknown[] = [id, [...from], to];
    if (failureReason !== undefined) sets.push(`failure_reason = $${params.push(failureReason)}`);
    if (to === 'deleted') sets.push('deleted_at = now()');
    if (to !== 'creating') sets.push('create_owner = NULL');
    return (await tx.exec(`UPDATE ${this.t} SET ${sets.join(', ')} WHERE id = $1 AND status = ANY($2::text[])`, params)) === 1;
  }

  async withStatus(status: SnapshotStatus): Promise<Snapshot[]> {
    return (await this.db.rows(`SELECT * FROM ${this.t} WHERE status = $1`, [status])).map(snapshotOf);
  }

  /** Snapshots still `creating` whose creator ran on this host (owner `host:pid:token`). */
  async creatingOf(ownerPrefix: string): Promise<Snapshot[]> {
    return (await this.db.rows(`SELECT * FROM ${this.t} WHERE status = 'creating' AND create_owner LIKE $1`, [`${ownerPrefix}%`])).map(snapshotOf);
  }
}
