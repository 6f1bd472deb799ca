import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { invalid, type Json, projectOf } from '../common/nova.js';
import { type CinderVolume, VolumeApi, VolumeApiError } from './volume-api.js';

/** Cinder's snapshot JSON (v3 at 3.0), the keys Nova's view reads. */
export type CinderSnapshot = { id: string; volume_id: string; status: string; size: number; created_at: string; name: string | null; description: string | null };

/** Nova's os-volumes view (nova/api/openstack/compute/volumes.py): camelCase, `[{}]` when unattached. */
export type NovaVolume = {
  id: string;
  status: string;
  size: number;
  availabilityZone: string;
  createdAt: string;
  attachments: Json[];
  displayName: string | null;
  displayDescription: string | null;
  volumeType: string | null;
  snapshotId: string | null;
  metadata: Record<string, string>;
};

export type NovaSnapshot = { id: string; volumeId: string; status: string; size: number; createdAt: string; displayName: string | null; displayDescription: string | null };

function volumeView(v: CinderVolume): NovaVolume {
  const a = v.attachments?.[0];
  return {
    id: v.id,
    status: v.status,
    size: v.size,
    availabilityZone: v.availability_zone,
    createdAt: v.created_at,
    // Nova shows the volume id as the attachment's id, the device only when there is one.
    attachments: a ? [{ id: v.id, volumeId: v.id, serverId: a.server_id, ...(a.device ? { device: a.device } : {}) }] : [{}],
    displayName: v.name ?? null,
    displayDescription: v.description ?? null,
    volumeType: v.volume_type ?? null,
    snapshotId: v.snapshot_id ?? null,
    metadata: v.metadata ?? {},
  };
}

function snapshotView(s: CinderSnapshot): NovaSnapshot {
  return { id: s.id, volumeId: s.volume_id, status: s.status, size: s.size, createdAt: s.created_at, displayName: s.name ?? null, displayDescription: s.description ?? null };
}

/** Nova's common.limited: `offset` and `limit` query parameters over the whole list (limit capped at 1000). */
export function limited<T>(items: T[], query: Record<string, unknown>): T[] {
  const int = (name: string): number | undefined => {
    const raw = query[name];
    if (raw === undefined) return undefined;
    const s = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
    if (!/^-?\d+$/.test(s.trim())) throw ApiError.badRequest(`${name} param must be an integer`);
    const n = Number(s);
    if (n < 0) throw ApiError.badRequest(`${name} param must be positive`);
    return n;
  };
  const offset = int('offset') ?? 0;
  const limit = Math.min(1000, int('limit') || 1000);
  return items.slice(offset, offset + limit);
}

/** A body `{key: {...}}` checked as Nova's JSON schema: an object, only `allowed` keys, each of its type. */
function schemaBody(raw: unknown, key: string, props: Record<string, (v: unknown) => string | null>, required: string[]): Json {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw ApiError.badRequest(`Invalid input for field/attribute body. Value: ${JSON.stringify(raw ?? null)}. ${JSON.stringify(raw ?? null)} is not of type 'object'`);
  const top = raw as Json;
  const extraTop = Object.keys(top).filter((k) => k !== key);
  if (extraTop.length) throw ApiError.badRequest(`Additional properties are not allowed (${extraTop.map((k) => `'${k}'`).join(', ')} ${extraTop.length > 1 ? 'were' : 'was'} unexpected)`);
  const inner = top[key];
  if (inner === undefined) throw ApiError.badRequest(`Invalid input for field/attribute body. '${key}' is a required property`);
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw invalid(key, inner, `${JSON.stringify(inner)} is not of type 'object'`);
  const o = inner as Json;
  const extra = Object.keys(o).filter((k) => !(k in props));
  if (extra.length) throw invalid(key, o, `Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  for (const r of required) if (o[r] === undefined) throw invalid(key, o, `'${r}' is a required property`);
  for (const [k, check] of Object.entries(props)) {
    if (o[k] === undefined) continue;
    const why = check(o[k]);
    if (why) throw invalid(k, o[k], why);
  }
  return o;
}

const str = (v: unknown) => (typeof v === 'string' ? null : `${JSON.stringify(v)} is not of type 'string'`);
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? null : `${JSON.stringify(v)} is not of type 'object'`);
/** Nova: integer or digit string, an integer at least 1 (a "0" string passes and the volume service refuses it). */
const size = (v: unknown) => {
  if (typeof v === 'number') return !Number.isInteger(v) ? `${v} is not of type 'integer', 'string'` : v < 1 ? `${v} is less than the minimum of 1` : null;
  if (typeof v === 'string') return /^[0-9]+$/.test(v) ? null : `'${v}' does not match '^[0-9]+$'`;
  return `${JSON.stringify(v)} is not of type 'integer', 'string'`;
};
/** oslo's bool_from_string(strict=True) as Nova's parameter_types.boolean accepts it. */
const BOOLS = new Map<unknown, boolean>([true, false, 'true', 'false', 'True', 'False', 'TRUE', 'FALSE', 'yes', 'no', 'on', 'off', 'y', 'n', '1', '0', 1, 0].map((v) => [v, v === true || v === 1 || (typeof v === 'string' && ['true', 'yes', 'on', 'y', '1'].includes(v.toLowerCase()))]));
const bool = (v: unknown) => (BOOLS.has(v) ? null : `${JSON.stringify(v)} is not of type 'boolean', 'string'`);

/**
 * Nova's volume proxy APIs (2.1–2.35; the microversion middleware answers 404 from 2.36):
 * os-volumes and os-snapshots, over the volume service's Cinder REST API with the caller's token
 * and project, as Nova's cinder driver does — the volume service decides visibility (another
 * project's volume is 404), validates the volume, and counts its quotas.
 */
@Injectable()
export class VolumesProxyService {
  constructor(
    private readonly api: VolumeApi,
    private readonly policy: PolicyService,
  ) {}

  private enforce(rule: string, auth: AuthContext): string {
    const project = projectOf(auth);
    this.policy.enforce(`os_compute_api:${rule}`, auth, { project_id: project });
    return project;
  }

  /** The volume service's refusals in Nova's words: 404 stays, over quota is 403 (Nova's OverQuota), the rest 400 (InvalidInput). */
  private translate(err: unknown, notFound?: string): unknown {
    if (!(err instanceof VolumeApiError)) return err;
    if (err.status === 404) return ApiError.notFound(notFound ?? err.message);
    if (err.status === 413 || err.status === 403) return ApiError.forbidden(err.message);
    if (err.status === 401) return ApiError.unauthorized(err.message);
    return ApiError.badRequest(err.message);
  }

  /** Every page of a Cinder list (newest first), so offset/limit apply to the whole list as in Nova. */
  private async all<T extends { id: string }>(auth: AuthContext, project: string, path: string, key: string): Promise<T[]> {
    const out: T[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = (await this.api.call<Record<string, T[]>>(auth.token, project, 'GET', `${path}?limit=1000${marker ? `&marker=${marker}` : ''}`).catch((e: unknown) => {
        throw this.translate(e);
      }))[key]!;
      out.push(...page);
      if (page.length < 1000) return out;
      marker = page[page.length - 1]!.id;
    }
  }

  async listVolumes(auth: AuthContext, detail: boolean, query: Record<string, unknown>): Promise<NovaVolume[]> {
    const project = this.enforce(`os-volumes:${detail ? 'detail' : 'list'}`, auth);
    const vols = await this.all<CinderVolume>(auth, project, '/volumes/detail', 'volumes');
    return limited(vols, query).map(volumeView);
  }

  async showVolume(auth: AuthContext, id: string): Promise<NovaVolume> {
    const project = this.enforce('os-volumes:show', auth);
    const v = await this.api.call<{ volume: CinderVolume }>(auth.token, project, 'GET', `/volumes/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e, `Volume ${id} could not be found.`);
    });
    return volumeView(v.volume);
  }

  async createVolume(auth: AuthContext, body: unknown): Promise<NovaVolume> {
    const project = this.enforce('os-volumes:create', auth);
    const o = schemaBody(body, 'volume', { volume_type: str, metadata: obj, snapshot_id: str, size, availability_zone: str, display_name: str, display_description: str }, ['size']);
    const req: Json = { size: Number(o.size) };
    if (o.display_name !== undefined) req.name = o.display_name;
    if (o.display_description !== undefined) req.description = o.display_description;
    if (o.metadata !== undefined) req.metadata = o.metadata;
    if (o.volume_type !== undefined) req.volume_type = o.volume_type;
    if (o.snapshot_id !== undefined) req.snapshot_id = o.snapshot_id;
    if (o.availability_zone !== undefined) req.availability_zone = o.availability_zone;
    const v = await this.api.call<{ volume: CinderVolume }>(auth.token, project, 'POST', '/volumes', { volume: req }).catch((e: unknown) => {
      throw this.translate(e);
    });
    return volumeView(v.volume);
  }

  async deleteVolume(auth: AuthContext, id: string): Promise<void> {
    const project = this.enforce('os-volumes:delete', auth);
    await this.api.call(auth.token, project, 'DELETE', `/volumes/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e, `Volume ${id} could not be found.`);
    });
  }

  async listSnapshots(auth: AuthContext, detail: boolean, query: Record<string, unknown>): Promise<NovaSnapshot[]> {
    const project = this.enforce(`os-volumes:snapshots:${detail ? 'detail' : 'list'}`, auth);
    const snaps = await this.all<CinderSnapshot>(auth, project, '/snapshots/detail', 'snapshots');
    return limited(snaps, query).map(snapshotView);
  }

  async showSnapshot(auth: AuthContext, id: string): Promise<NovaSnapshot> {
    const project = this.enforce('os-volumes:snapshots:show', auth);
    const s = await this.api.call<{ snapshot: CinderSnapshot }>(auth.token, project, 'GET', `/snapshots/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e, `Snapshot ${id} could not be found.`);
    });
    return snapshotView(s.snapshot);
  }

  async createSnapshot(auth: AuthContext, body: unknown): Promise<NovaSnapshot> {
    const project = this.enforce('os-volumes:snapshots:create', auth);
    const o = schemaBody(body, 'snapshot', { volume_id: str, force: bool, display_name: str, display_description: str }, ['volume_id']);
    const req: Json = { volume_id: o.volume_id, force: o.force === undefined ? false : BOOLS.get(o.force) };
    if (o.display_name !== undefined) req.name = o.display_name;
    if (o.display_description !== undefined) req.description = o.display_description;
    const s = await this.api.call<{ snapshot: CinderSnapshot }>(auth.token, project, 'POST', '/snapshots', { snapshot: req }).catch((e: unknown) => {
      throw this.translate(e);
    });
    return snapshotView(s.snapshot);
  }

  async deleteSnapshot(auth: AuthContext, id: string): Promise<void> {
    const project = this.enforce('os-volumes:snapshots:delete', auth);
    await this.api.call(auth.token, project, 'DELETE', `/snapshots/${encodeURIComponent(id)}`).catch((e: unknown) => {
      throw this.translate(e, `Snapshot ${id} could not be found.`);
    });
  }
}
