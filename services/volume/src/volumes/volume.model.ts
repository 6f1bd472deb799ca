import type { VolumeAttachmentRecord, VolumeRecord, VolumeStatus } from '@kumo/contracts';
import { ApiError } from '@kumo/service-kit';

export interface Attachment {
  id: string;
  volumeId: string;
  serverId: string;
  status: 'reserved' | 'attached';
  host: string | null;
  device: string | null;
  reservedAt: Date;
  attachedAt: Date | null;
}

export interface Volume {
  id: string;
  projectId: string;
  userId: string | null;
  name: string | null;
  description: string | null;
  size: number;
  status: VolumeStatus | 'deleted';
  bootable: boolean;
  imageId: string | null;
  /** The snapshot it was made from, if any. */
  snapshotId: string | null;
  imageMetadata: Record<string, string> | null;
  metadata: Record<string, string>;
  createOwner: string | null;
  failureReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  attachments: Attachment[];
}

/** The one volume type of the file backend (Cinder always has `__DEFAULT__`). Fixed id: nothing can change it. */
export const DEFAULT_TYPE = {
  id: '8c7a0b8e-0b0c-4b8e-9a57-6b1d1c6a0d01',
  name: '__DEFAULT__',
  description: 'Default Volume Type',
  is_public: true,
  extra_specs: {},
  qos_specs_id: null,
  'os-volume-type-access:is_public': true,
};

/** Statuses a volume may be deleted in (Cinder: available, error, error_*). */
export const DELETABLE: readonly string[] = ['available', 'error', 'error_deleting'];

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID_RE.test(s);

/** Cinder's size check: an integer (or integer string, as cinderclient may send), at least 1 and at most `max`. */
export function parseSize(value: unknown, max: number, what = 'size'): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 1) {
    throw ApiError.badRequest(`Invalid input received: ${what} must be an integer and greater than 0 (got ${JSON.stringify(value)}).`);
  }
  if (n > max) throw ApiError.badRequest(`Invalid input received: ${what} ${n} GB exceeds the largest volume size of ${max} GB.`);
  return n;
}

function optionalString(body: Record<string, unknown>, keys: string[], max: number): string | null | undefined {
  for (const k of keys) {
    if (!(k in body)) continue;
    const v = body[k];
    if (v === null) return null;
    if (typeof v !== 'string') throw ApiError.badRequest(`Invalid input received: ${k} must be a string.`);
    if (v.length > max) throw ApiError.badRequest(`Invalid input received: ${k} must be at most ${max} characters.`);
    return v;
  }
  return undefined;
}

/** `name`, accepting cinderclient v1's `display_name` alias (OSC `volume set --name` sends it). */
export const parseName = (body: Record<string, unknown>) => optionalString(body, ['name', 'display_name'], 255);
export const parseDescription = (body: Record<string, unknown>) => optionalString(body, ['description', 'display_description'], 65535);

/** Metadata: string keys (1–255 characters) to string values (up to 255), as Cinder validates it. */
export function parseMetadata(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw ApiError.badRequest('Invalid input received: metadata must be an object.');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.length < 1 || k.length > 255) throw ApiError.badRequest('Invalid input received: metadata keys must be 1 to 255 characters long.');
    if (typeof v !== 'string' || v.length > 255) throw ApiError.badRequest(`Invalid input received: metadata value of ${k} must be a string of at most 255 characters.`);
    out[k] = v;
  }
  return out;
}

/** The body's single top-level object (`{"volume": {...}}`), or 400. */
export function wrapped(body: unknown, key: string): Record<string, unknown> {
  const inner = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>)[key] : undefined;
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw ApiError.badRequest(`Missing required element '${key}' in request body.`);
  return inner as Record<string, unknown>;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString().replace(/Z$/, '').replace(/\.\d+$/, (m) => m.padEnd(7, '0')) : null);

function renderAttachment(a: Attachment, v: Volume) {
  return {
    id: a.volumeId,
    attachment_id: a.id,
    volume_id: v.id,
    server_id: a.serverId,
    host_name: a.host,
    device: a.device,
    attached_at: iso(a.attachedAt),
  };
}

/**
 * Cinder v3 volume JSON at microversion 3.0 (every key OSC and cinderclient read,
 * openstack-api.md §3.6). `extended` (show and detail lists, not create/update — Cinder's
 * attribute extensions only extend those) adds `os-vol-tenant-attr:tenant_id`; admins also get
 * the host and migration attributes. Keys of later microversions (cluster_name 3.61,
 * volume_type_id 3.63, consumes_quota 3.65) are not sent: Tempest's 3.0 schemas forbid them.
 */
export function renderVolume(v: Volume, baseUrl: string, view: { extended?: boolean; admin?: boolean } = {}) {
  return {
    id: v.id,
    name: v.name,
    description: v.description,
    size: v.size,
    status: v.status,
    availability_zone: 'nova',
    created_at: iso(v.createdAt),
    updated_at: iso(v.updatedAt),
    // Cinder lists an attachment only once it is complete; a reservation shows as status `reserved`.
    attachments: v.attachments.filter((a) => a.status === 'attached').map((a) => renderAttachment(a, v)),
    bootable: v.bootable ? 'true' : 'false',
    encrypted: false,
    multiattach: false,
    metadata: v.metadata,
    volume_type: DEFAULT_TYPE.name,
    snapshot_id: v.snapshotId,
    source_volid: null,
    consistencygroup_id: null,
    group_id: null,
    replication_status: null,
    user_id: v.userId,
    ...(view.extended ? { 'os-vol-tenant-attr:tenant_id': v.projectId } : {}),
    ...(view.extended && view.admin ? { 'os-vol-host-attr:host': null, 'os-vol-mig-status-attr:migstat': null, 'os-vol-mig-status-attr:name_id': null } : {}),
    ...(v.imageMetadata ? { volume_image_metadata: v.imageMetadata } : {}),
    provider_id: null,
    service_uuid: null,
    shared_targets: false,
    links: [
      { rel: 'self', href: `${baseUrl}/v3/${v.projectId}/volumes/${v.id}` },
      { rel: 'bookmark', href: `${baseUrl}/${v.projectId}/volumes/${v.id}` },
    ],
  };
}

/** `GET /volumes` (not detail): id, name, links. */
export function renderVolumeSummary(v: Volume, baseUrl: string) {
  const d = renderVolume(v, baseUrl);
  return { id: d.id, name: d.name, links: d.links };
}

export function toAttachmentRecord(a: Attachment): VolumeAttachmentRecord {
  return { id: a.id, volumeId: a.volumeId, serverId: a.serverId, status: a.status, host: a.host, device: a.device, attachedAt: a.attachedAt?.toISOString() ?? null };
}

export function toRecord(v: Volume): VolumeRecord {
  return {
    id: v.id,
    projectId: v.projectId,
    name: v.name,
    size: v.size,
    status: v.status as VolumeStatus,
    bootable: v.bootable,
    imageId: v.imageId,
    attachments: v.attachments.map(toAttachmentRecord),
  };
}
