import { Injectable } from '@nestjs/common';
import type { Image, ImageStatus, MemberStatus } from '../images/image.model.js';
import type { ListQuery, SortKey } from '../images/list-query.js';
import type { ImageMember } from '../members/member.model.js';
import { Db, type Sql } from './db.js';

/** Who is looking: a project (or none, for domain/system-scoped tokens) and whether it is admin. */
export interface Viewer {
  projectId: string | null;
  isAdmin: boolean;
}

export interface Usage {
  images: number;
  bytes: number;
}

export interface QuotaOverride {
  maxImages: number | null;
  maxBytes: number | null;
}

export interface ImageTask {
  id: string;
  imageId: string;
  type: string;
  status: 'pending' | 'processing' | 'success' | 'failure';
  owner: string | null;
  userId: string | null;
  requestId: string | null;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  message: string;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date | null;
}

const JSONB = new Set(['properties', 'staged', 'input', 'result', 'payload']);

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function imageOf(r: Row): Image {
  return {
    id: r.id as string,
    name: (r.name as string | null) ?? null,
    status: r.status as ImageStatus,
    visibility: r.visibility as Image['visibility'],
    protected: r.protected as boolean,
    osHidden: r.os_hidden as boolean,
    owner: (r.owner as string | null) ?? null,
    diskFormat: (r.disk_format as string | null) ?? null,
    containerFormat: (r.container_format as string | null) ?? null,
    size: num(r.size),
    virtualSize: num(r.virtual_size),
    checksum: (r.checksum as string | null) ?? null,
    osHashAlgo: (r.os_hash_algo as string | null) ?? null,
    osHashValue: (r.os_hash_value as string | null) ?? null,
    minRam: Number(r.min_ram),
    minDisk: Number(r.min_disk),
    properties: (r.properties as Record<string, string>) ?? {},
    tags: (r.tags as string[]) ?? [],
    store: (r.store as string | null) ?? null,
    location: (r.location as string | null) ?? null,
    failureReason: (r.failure_reason as string | null) ?? null,
    staged: (r.staged as Image['staged']) ?? null,
    uploadOwner: (r.upload_owner as string | null) ?? null,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    deletedAt: (r.deleted_at as Date | null) ?? null,
  };
}

function memberOf(r: Row): ImageMember {
  return { imageId: r.image_id as string, memberId: r.member_id as string, status: r.status as MemberStatus, createdAt: r.created_at as Date, updatedAt: r.updated_at as Date };
}

function taskOf(r: Row): ImageTask {
  return {
    id: r.id as string,
    imageId: r.image_id as string,
    type: r.type as string,
    status: r.status as ImageTask['status'],
    owner: (r.owner as string | null) ?? null,
    userId: (r.user_id as string | null) ?? null,
    requestId: (r.request_id as string | null) ?? null,
    input: r.input as Record<string, unknown>,
    result: (r.result as Record<string, unknown> | null) ?? null,
    message: r.message as string,
    createdAt: r.created_at as Date,
    updatedAt: r.updated_at as Date,
    expiresAt: (r.expires_at as Date | null) ?? null,
  };
}

/** Columns of `image` a caller may write, with the domain field they come from. */
export type ImageColumns = Partial<{
  name: string | null;
  status: ImageStatus;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  owner: string | null;
  disk_format: string | null;
  container_format: string | null;
  size: number | null;
  virtual_size: number | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_ram: number;
  min_disk: number;
  properties: Record<string, string>;
  tags: string[];
  store: string | null;
  location: string | null;
  failure_reason: string | null;
  staged: Image['staged'];
  upload_owner: string | null;
  upload_started_at: Date | null;
  deleted_at: Date | null;
}>;

const SORT_EXPR: Record<SortKey, (a: string) => string> = {
  name: (a) => `COALESCE(${a}.name, '')`,
  status: (a) => `${a}.status`,
  container_format: (a) => `COALESCE(${a}.container_format, '')`,
  disk_format: (a) => `COALESCE(${a}.disk_format, '')`,
  size: (a) => `COALESCE(${a}.size, -1)`,
  virtual_size: (a) => `COALESCE(${a}.virtual_size, -1)`,
  id: (a) => `${a}.id`,
  created_at: (a) => `${a}.created_at`,
  updated_at: (a) => `${a}.updated_at`,
  visibility: (a) => `${a}.visibility`,
  owner: (a) => `COALESCE(${a}.owner, '')`,
  min_ram: (a) => `${a}.min_ram`,
  min_disk: (a) => `${a}.min_disk`,
};

const TIME_OPS = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** Every SQL statement on images, members, tasks, quotas and the event outbox. */
@Injectable()
export class ImageRepository {
  constructor(readonly db: Db) {}

  private get img() {
    return this.db.t('image');
  }
  private get mem() {
    return this.db.t('image_member');
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  // ------------------------------------------------------------------ images

  async get(id: string, sql: Sql = this.db, opts: { forUpdate?: boolean } = {}): Promise<Image | null> {
    const rows = await sql.rows(`SELECT * FROM ${this.img} WHERE id = $1${opts.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] ? imageOf(rows[0]) : null;
  }

  /** SQL predicate (on alias `i`) of the images `viewer` may see by id; `$n` placeholders appended to params. */
  private visiblePredicate(viewer: Viewer, params: unknown[], list?: { community: boolean; memberStatus: ListQuery['memberStatus'] }): string {
    if (viewer.isAdmin) return 'TRUE';
    if (!viewer.projectId) return `(i.visibility = 'public'${!list || list.community ? " OR i.visibility = 'community'" : ''})`;
    params.push(viewer.projectId);
    const p = `$${params.length}`;
    let memberCond = '';
    if (list && list.memberStatus !== 'all') {
      params.push(list.memberStatus);
      memberCond = ` AND m.status = $${params.length}`;
    }
    const community = !list || list.community ? " OR i.visibility = 'community'" : '';
    return `(i.owner = ${p} OR i.visibility = 'public'${community} OR (i.visibility = 'shared' AND EXISTS (SELECT 1 FROM ${this.mem} m WHERE m.image_id = i.id AND m.member_id = ${p}${memberCond})))`;
  }

  /** The image if it exists, is not deleted and `viewer` may see it; null otherwise. */
  async getVisible(id: string, viewer: Viewer, sql: Sql = this.db): Promise<Image | null> {
    const params: unknown[] = [id];
    const pred = this.visiblePredicate(viewer, params);
    const rows = await sql.rows(`SELECT i.* FROM ${this.img} i WHERE i.id = $1 AND i.status <> 'deleted' AND ${pred}`, params);
    return rows[0] ? imageOf(rows[0]) : null;
  }

  async list(q: ListQuery, viewer: Viewer): Promise<Image[]> {
    const params: unknown[] = [];
    const add = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = [`i.status <> 'deleted'`];
    const community = q.visibilityAll || (q.equals.visibility ?? []).includes('community');
    where.push(this.visiblePredicate(viewer, params, { community, memberStatus: q.memberStatus }));
    for (const [col, values] of Object.entries(q.equals)) {
      if (!values?.length) continue;
      const v = col === 'id' ? values.map((x) => x.toLowerCase()) : values;
      where.push(col === 'id' ? `i.id::text = ANY(${add(v)}::text[])` : `i.${col} = ANY(${add(v)}::text[])`);
    }
    for (const [col, value] of Object.entries(q.numbers)) where.push(`i.${col} = ${add(value)}`);
    if (q.sizeMin !== undefined) where.push(`i.size >= ${add(q.sizeMin)}`);
    if (q.sizeMax !== undefined) where.push(`i.size <= ${add(q.sizeMax)}`);
    for (const [col, value] of Object.entries(q.booleans)) where.push(`i.${col} = ${add(value)}`);
    if (q.booleans.os_hidden === undefined) where.push('NOT i.os_hidden');
    for (const t of q.times) where.push(`i.${t.column} ${TIME_OPS[t.op]} ${add(t.at)}`);
    if (q.tags.length) where.push(`i.tags @> ${add(q.tags)}::text[]`);
    for (const [k, v] of Object.entries(q.properties)) where.push(`i.properties ->> ${add(k)} = ${add(v)}`);

    const keys = [...q.sort];
    if (!keys.some((k) => k.key === 'created_at')) keys.push({ key: 'created_at', dir: keys[keys.length - 1]?.dir ?? 'desc' });
    if (!keys.some((k) => k.key === 'id')) keys.push({ key: 'id', dir: keys[keys.length - 1]!.dir });
    let from = `${this.img} i`;
    if (q.marker) {
      from += ` CROSS JOIN (SELECT * FROM ${this.img} WHERE id = ${add(q.marker)}) mk`;
      const ors = keys.map((k, idx) => {
        const eqs = keys.slice(0, idx).map((p) => `${SORT_EXPR[p.key]('i')} = ${SORT_EXPR[p.key]('mk')}`);
        const cmp = `${SORT_EXPR[k.key]('i')} ${k.dir === 'asc' ? '>' : '<'} ${SORT_EXPR[k.key]('mk')}`;
        return `(${[...eqs, cmp].join(' AND ')})`;
      });
      where.push(`(${ors.join(' OR ')})`);
    }
    const order = keys.map((k) => `${SORT_EXPR[k.key]('i')} ${k.dir.toUpperCase()}`).join(', ');
    const rows = await this.db.rows(`SELECT i.* FROM ${from} WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${add(q.limit)}`, params);
    return rows.map(imageOf);
  }

  async insert(tx: Sql, image: Image): Promise<Image> {
    const rows = await tx.rows(
      `INSERT INTO ${this.img} (id, name, status, visibility, protected, os_hidden, owner, disk_format, container_format, min_ram, min_disk, properties, tags, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now(), now()) RETURNING *`,
      [image.id, image.name, image.status, image.visibility, image.protected, image.osHidden, image.owner, image.diskFormat, image.containerFormat, image.minRam, image.minDisk, JSON.stringify(image.properties), image.tags],
    );
    return imageOf(rows[0]!);
  }

  /**
   * Updates columns of one image and returns it, or null when it does not exist or (with
   * `onlyIf`) is not in one of the given statuses: state transitions are compare-and-set, so
   * two requests racing for the same image cannot both win.
   */
  async update(sql: Sql, id: string, set: ImageColumns, onlyIf: { status?: ImageStatus[]; uploadOwner?: string } = {}): Promise<Image | null> {
    const params: unknown[] = [id];
    const assignments = Object.entries(set).map(([col, value]) => {
      params.push(JSONB.has(col) && value !== null ? JSON.stringify(value) : value);
      return `${col} = $${params.length}`;
    });
    assignments.push('updated_at = now()');
    let cond = 'id = $1';
    if (onlyIf.status) {
      params.push(onlyIf.status);
      cond += ` AND status = ANY($${params.length}::text[])`;
    }
    if (onlyIf.uploadOwner) {
      params.push(onlyIf.uploadOwner);
      cond += ` AND upload_owner = $${params.length}`;
    }
    const rows = await sql.rows(`UPDATE ${this.img} SET ${assignments.join(', ')} WHERE ${cond} RETURNING *`, params);
    return rows[0] ? imageOf(rows[0]) : null;
  }

  /** Images whose data is being written by processes of `hostPrefix` (`host:`), for crash recovery. */
  async inFlight(hostPrefix: string): Promise<Image[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.img} WHERE status IN ('saving', 'importing') AND upload_owner LIKE $1`, [`${hostPrefix}%`]);
    return rows.map(imageOf);
  }

  /** Images that hold (or may hold) data at `location`s, to tell orphaned store files from live ones. */
  async liveLocations(): Promise<Set<string>> {
    const rows = await this.db.rows<{ id: string }>(`SELECT id FROM ${this.img} WHERE status <> 'deleted' AND status <> 'killed'`);
    return new Set(rows.map((r) => r.id));
  }

  /** Staged files of images that still wait for `import` (or are importing). */
  async stagedIds(): Promise<Set<string>> {
    const rows = await this.db.rows<{ id: string }>(`SELECT id FROM ${this.img} WHERE staged IS NOT NULL AND status IN ('uploading', 'importing')`);
    return new Set(rows.map((r) => r.id));
  }

  // ------------------------------------------------------------------ quota

  /** Serialises quota checks of one project (until the transaction ends). */
  async lockProject(tx: Sql, owner: string): Promise<void> {
    await tx.rows(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`kumo-image-quota:${owner}`]);
  }

  /** Live usage: images not deleted, and bytes of the data they hold (uploads in flight excluded). */
  async usage(sql: Sql, owner: string, exceptImage?: string): Promise<Usage> {
    const rows = await sql.rows<{ images: string; bytes: string }>(
      `SELECT count(*) AS images, COALESCE(sum(size) FILTER (WHERE status IN ('active', 'deactivated')), 0) AS bytes
         FROM ${this.img} WHERE owner = $1 AND status <> 'deleted' AND ($2::uuid IS NULL OR id <> $2::uuid)`,
      [owner, exceptImage ?? null],
    );
    return { images: Number(rows[0]!.images), bytes: Number(rows[0]!.bytes) };
  }

  async quotaOverride(sql: Sql, owner: string): Promise<QuotaOverride | null> {
    const rows = await sql.rows<{ max_images: number | null; max_bytes: string | null }>(`SELECT max_images, max_bytes FROM ${this.db.t('project_quota')} WHERE project_id = $1`, [owner]);
    return rows[0] ? { maxImages: rows[0].max_images, maxBytes: num(rows[0].max_bytes) } : null;
  }

  async setQuota(project: string, maxImages: number | null, maxBytes: number | null): Promise<void> {
    await this.db.exec(
      `INSERT INTO ${this.db.t('project_quota')} (project_id, max_images, max_bytes, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (project_id) DO UPDATE SET max_images = EXCLUDED.max_images, max_bytes = EXCLUDED.max_bytes, updated_at = now()`,
      [project, maxImages, maxBytes],
    );
  }

  // ------------------------------------------------------------------ members

  async members(imageId: string, sql: Sql = this.db): Promise<ImageMember[]> {
    const rows = await sql.rows(`SELECT * FROM ${this.mem} WHERE image_id = $1 ORDER BY created_at, member_id`, [imageId]);
    return rows.map(memberOf);
  }

  async member(imageId: string, memberId: string, sql: Sql = this.db): Promise<ImageMember | null> {
    const rows = await sql.rows(`SELECT * FROM ${this.mem} WHERE image_id = $1 AND member_id = $2`, [imageId, memberId]);
    return rows[0] ? memberOf(rows[0]) : null;
  }

  /** Inserts a pending member; null if it already exists. */
  async addMember(tx: Sql, imageId: string, memberId: string): Promise<ImageMember | null> {
    const rows = await tx.rows(`INSERT INTO ${this.mem} (image_id, member_id, status) VALUES ($1, $2, 'pending') ON CONFLICT DO NOTHING RETURNING *`, [imageId, memberId]);
    return rows[0] ? memberOf(rows[0]) : null;
  }

  async setMemberStatus(imageId: string, memberId: string, status: MemberStatus): Promise<ImageMember | null> {
    const rows = await this.db.rows(`UPDATE ${this.mem} SET status = $3, updated_at = now() WHERE image_id = $1 AND member_id = $2 RETURNING *`, [imageId, memberId, status]);
    return rows[0] ? memberOf(rows[0]) : null;
  }

  async deleteMember(imageId: string, memberId: string): Promise<boolean> {
    return (await this.db.exec(`DELETE FROM ${this.mem} WHERE image_id = $1 AND member_id = $2`, [imageId, memberId])) > 0;
  }

  async deleteMembers(tx: Sql, imageId: string): Promise<void> {
    await tx.exec(`DELETE FROM ${this.mem} WHERE image_id = $1`, [imageId]);
  }

  // ------------------------------------------------------------------ tasks

  async insertTask(tx: Sql, t: Omit<ImageTask, 'createdAt' | 'updatedAt'>): Promise<ImageTask> {
    const rows = await tx.rows(
      `INSERT INTO ${this.db.t('image_task')} (id, image_id, type, status, owner, user_id, request_id, input, result, message, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [t.id, t.imageId, t.type, t.status, t.owner, t.userId, t.requestId, JSON.stringify(t.input), t.result ? JSON.stringify(t.result) : null, t.message, t.expiresAt],
    );
    return taskOf(rows[0]!);
  }

  async finishTask(id: string, status: ImageTask['status'], message: string, result: Record<string, unknown> | null): Promise<void> {
    await this.db.exec(`UPDATE ${this.db.t('image_task')} SET status = $2, message = $3, result = $4, updated_at = now(), expires_at = now() + interval '2 days' WHERE id = $1`, [
      id,
      status,
      message,
      result ? JSON.stringify(result) : null,
    ]);
  }

  async tasksOf(imageId: string): Promise<ImageTask[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.db.t('image_task')} WHERE image_id = $1 ORDER BY created_at`, [imageId]);
    return rows.map(taskOf);
  }

  // ------------------------------------------------------------------ outbox

  /** Queues an event in the caller's transaction: it is published if and only if the change commits. */
  async enqueueEvent(tx: Sql, event: string, payload: unknown, requestId?: string): Promise<string> {
    const rows = await tx.rows<{ id: string }>(`INSERT INTO ${this.db.t('event_outbox')} (event, payload, request_id) VALUES ($1, $2, $3) RETURNING id`, [event, JSON.stringify(payload), requestId ?? null]);
    return String(rows[0]!.id);
  }

  async pendingEventCount(): Promise<number> {
    const rows = await this.db.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('event_outbox')}`);
    return Number(rows[0]!.n);
  }
}
