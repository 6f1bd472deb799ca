import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService } from '@kumo/service-kit';
import type { VolumeConfig } from '../config.js';
import { isUuid, parseDescription, parseMetadata, parseName } from '../volumes/volume.model.js';
import { PROCESS_OWNER, VolumesService } from '../volumes/volumes.service.js';
import { type Snapshot, SnapshotRepository, SORT_COLUMNS } from './snapshot.repository.js';
import { BackgroundJobs } from '../lifecycle/background-jobs.js';

/** Statuses a snapshot may be deleted in (Cinder: available, error, error_deleting). */
const DELETABLE = ['available', 'error', 'error_deleting'];

/** oslo's bool_from_string(strict=True), which Cinder applies to `force`. */
function strictBool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  throw ApiError.badRequest(`Invalid input received: ${field} must be a boolean, got ${JSON.stringify(v)}.`);
}

/**
 * Cinder's volume snapshots for the file backend: a snapshot is a full qcow2 copy of the volume's
 * file at that moment (`qemu-img convert`), written to a `.part` file and renamed into place, in
 * the background (`creating` → `available`, or `error` with the reason). Crash safety as for
 * volumes: the row is written first; the reconciler turns a snapshot whose creating process died
 * into `error` and finishes a removal a crash interrupted.
 */
@Injectable()
export class SnapshotsService implements OnApplicationShutdown {
  private readonly log = new Logger('snapshots');
  private readonly jobs = new BackgroundJobs(this.log);

  constructor(
    readonly snapshots: SnapshotRepository,
    private readonly volumes: VolumesService,
    private readonly policy: PolicyService,
    @Inject(KUMO_CONFIG) private readonly config: VolumeConfig,
  ) {}

  async onApplicationShutdown() {
    await this.settle();
  }

  /** Resolves once every background job started so far has finished. */
  settle(): Promise<void> {
    return this.jobs.settle();
  }

  /** The snapshot if the caller may see it; otherwise 404, as for a missing one. */
  async show(auth: AuthContext, id: string): Promise<Snapshot> {
    const actor = this.volumes.actorOf(auth);
    const s = isUuid(id) ? await this.snapshots.get(id) : undefined;
    if (!s || (!actor.isAdmin && s.projectId !== actor.projectId)) throw ApiError.notFound(`Snapshot ${id} could not be found.`);
    this.policy.enforce('volume:get_snapshot', auth, { project_id: s.projectId });
    return s;
  }

  async list(auth: AuthContext, query: Record<string, unknown>): Promise<Snapshot[]> {
    const actor = this.volumes.actorOf(auth);
    this.policy.enforce('volume:get_all_snapshots', auth, { project_id: actor.projectId });
    // As for volumes: all_tenants from someone who may not use it is ignored, not refused.
    const all = ['1', 'true', 'True'].includes(String(query.all_tenants ?? '')) && this.policy.allows('volume:get_all_tenants', auth, {});
    const str = (k: string) => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
    const int = (k: string, fallback: number) => {
      const raw = str(k);
      const n = raw === undefined ? fallback : Number(raw);
      if (!Number.isInteger(n) || n < 0) throw ApiError.badRequest(`Invalid input received: ${k} must be a non-negative integer.`);
      return n;
    };
    const limit = Math.min(int('limit', 1000), 1000);
    const offset = int('offset', 0);
    // Cinder's sort=key:dir[,…] or sort_key/sort_dir; the first key decides, id breaks ties.
    const [sortSpec] = (str('sort') ?? `${str('sort_key') ?? 'created_at'}:${str('sort_dir') ?? 'desc'}`).split(',');
    const [rawKey, rawDir = 'desc'] = sortSpec!.split(':');
    const column = rawKey === 'display_name' ? 'name' : rawKey!;
    if (!SORT_COLUMNS.includes(column)) throw ApiError.badRequest(`Invalid input received: Invalid sort key ${rawKey}.`);
    if (rawDir !== 'asc' && rawDir !== 'desc') throw ApiError.badRequest(`Invalid input received: Invalid sort direction ${rawDir}.`);
    let rows = await this.snapshots.list({ projectId: all ? null : actor.projectId, volumeId: str('volume_id'), name: str('name'), status: str('status'), sort: { column, desc: rawDir === 'desc' } });
    const m = str('marker');
    if (m !== undefined) {
      // Cinder's MarkerNotFound is a 404.
      const at = rows.findIndex((s) => s.id === m);
      if (at < 0) throw ApiError.notFound(`Marker ${m} could not be found.`);
      rows = rows.slice(at + 1);
    }
    return rows.slice(offset, offset + limit);
  }

  /** name / description (and the display_* aliases). */
  async update(auth: AuthContext, id: string, body: Record<string, unknown>): Promise<Snapshot> {
    const actor = this.volumes.actorOf(auth);
    return this.volumes.volumes.transaction(async (tx) => {
      const s = isUuid(id) ? await this.snapshots.get(id, tx, true) : undefined;
      if (!s || (!actor.isAdmin && s.projectId !== actor.projectId)) throw ApiError.notFound(`Snapshot ${id} could not be found.`);
      this.policy.enforce('volume:update_snapshot', auth, { project_id: s.projectId });
      await this.snapshots.update(tx, s.id, { name: parseName(body), description: parseDescription(body) });
      return (await this.snapshots.get(s.id, tx))!;
    });
  }

  /**
   * Snapshot metadata (Cinder's /snapshots/{id}/metadata): `change` computes the new map from the
   * current one under the row lock (merge, replace, one key set or removed).
   */
  async changeMetadata(auth: AuthContext, id: string, change: (current: Record<string, string>) => Record<string, string>): Promise<Record<string, string>> {
    const actor = this.volumes.actorOf(auth);
    return this.volumes.volumes.transaction(async (tx) => {
      const s = isUuid(id) ? await this.snapshots.get(id, tx, true) : undefined;
      if (!s || (!actor.isAdmin && s.projectId !== actor.projectId)) throw ApiError.notFound(`Snapshot ${id} could not be found.`);
      this.policy.enforce('volume:update_snapshot_metadata', auth, { project_id: s.projectId });
      const metadata = change(s.metadata);
      await this.snapshots.update(tx, s.id, { metadata });
      return metadata;
    });
  }

  async create(auth: AuthContext, body: Record<string, unknown>, requestId?: string): Promise<Snapshot> {
    const actor = this.volumes.actorOf(auth);
    this.policy.enforce('volume:create_snapshot', auth, { project_id: actor.projectId });
    const volumeId = body.volume_id;
    // Cinder looks the volume up whatever it is: no volume_id is a volume that cannot be found (404).
    if (typeof volumeId !== 'string' || !volumeId) throw ApiError.notFound(`Volume ${String(volumeId ?? 'None')} could not be found.`);
    const force = strictBool(body.force, 'force');
    const name = parseName(body) ?? null;
    const description = parseDescription(body) ?? null;
    const metadata = parseMetadata(body.metadata);
    const id = randomUUID();
    const created = await this.volumes.volumes.transaction(async (tx) => {
      // The volume row stays locked until the snapshot row exists: a concurrent delete of the volume sees it.
      const v = await this.volumes.visible(actor, volumeId, tx, true);
      if (v.status !== 'available' && !(v.status === 'in-use' && force)) {
        throw ApiError.badRequest(
          v.status === 'in-use'
            ? `Invalid volume: Volume ${v.id} is in-use: snapshot it with force=true (the copy is crash-consistent) or detach it first.`
            : `Invalid volume: Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`,
        );
      }
      await this.volumes.volumes.lockProject(tx, v.projectId);
      const used = await this.snapshots.usage(tx, v.projectId);
      if (used.snapshots + 1 > this.config.KUMO_VOLUME_QUOTA_SNAPSHOTS) {
        throw new ApiError(413, `SnapshotLimitExceeded: Maximum number of snapshots allowed (${this.config.KUMO_VOLUME_QUOTA_SNAPSHOTS}) exceeded for quota 'snapshots'.`);
      }
      const gb = (await this.volumes.volumes.usage(tx, v.projectId)).gigabytes;
      if (gb + v.size > this.config.KUMO_VOLUME_QUOTA_GIGABYTES) {
        throw new ApiError(413, `VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested ${v.size}G, quota is ${this.config.KUMO_VOLUME_QUOTA_GIGABYTES}G and ${gb}G has been consumed.`);
      }
      await this.snapshots.insert(tx, { id, volumeId: v.id, projectId: v.projectId, userId: auth.userId, name, description, size: v.size, metadata, createOwner: PROCESS_OWNER });
      return (await this.snapshots.get(id, tx))!;
    });
    this.jobs.run(() => this.build(created, requestId));
    return created;
  }

  private async build(s: Snapshot, requestId?: string): Promise<void> {
    try {
      await this.volumes.backend.snapshot(s.volumeId, s.id);
      await this.volumes.volumes.transaction((tx) => this.snapshots.setStatus(tx, s.id, ['creating'], 'available'));
    } catch (err) {
      const reason = (err as Error).message;
      this.log.warn(`snapshot ${s.id} of volume ${s.volumeId}${requestId ? ` (${requestId})` : ''}: create failed: ${reason}`);
      await this.fail(s.id, reason);
    }
  }

  /** creating -> error, its partial data removed. */
  async fail(id: string, reason: string): Promise<void> {
    await this.volumes.backend.removeSnapshot(id).catch(() => undefined);
    await this.volumes.volumes.transaction((tx) => this.snapshots.setStatus(tx, id, ['creating'], 'error', reason));
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    const actor = this.volumes.actorOf(auth);
    await this.volumes.volumes.transaction(async (tx) => {
      const s = isUuid(id) ? await this.snapshots.get(id, tx, true) : undefined;
      if (!s || (!actor.isAdmin && s.projectId !== actor.projectId)) throw ApiError.notFound(`Snapshot ${id} could not be found.`);
      this.policy.enforce('volume:delete_snapshot', auth, { project_id: s.projectId });
      if (!DELETABLE.includes(s.status)) throw ApiError.badRequest(`Invalid snapshot: Snapshot status must be available or error, but current status is: ${s.status}.`);
      await this.snapshots.setStatus(tx, s.id, [s.status], 'deleting');
    });
    this.jobs.run(() => this.finishDelete(id));
  }

  /** deleting -> data removed -> deleted. Also what the reconciler retries for a removal a crash interrupted. */
  async finishDelete(id: string): Promise<void> {
    try {
      await this.volumes.backend.removeSnapshot(id);
    } catch (err) {
      this.log.warn(`snapshot ${id}: removing data failed: ${(err as Error).message}`);
      await this.volumes.volumes.transaction((tx) => this.snapshots.setStatus(tx, id, ['deleting'], 'error_deleting', (err as Error).message));
      return;
    }
    await this.volumes.volumes.transaction((tx) => this.snapshots.setStatus(tx, id, ['deleting'], 'deleted'));
  }
}

const iso = (d: Date | null): string | null => (d ? d.toISOString().replace(/Z$/, '').replace(/\.\d+$/, (m) => m.padEnd(7, '0')) : null);

/** Cinder's snapshot JSON at 3.0; `detail` (show and detail lists) adds the extended attributes. */
export function renderSnapshot(s: Snapshot, detail = false) {
  return {
    id: s.id,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
    name: s.name,
    description: s.description,
    volume_id: s.volumeId,
    status: s.status,
    size: s.size,
    metadata: s.metadata,
    ...(detail ? { 'os-extended-snapshot-attributes:progress': s.status === 'available' ? '100%' : '0%', 'os-extended-snapshot-attributes:project_id': s.projectId } : {}),
  };
}
