import type { ImageStatus, ImageVisibility } from '@kumo/contracts';
import { ApiError } from '@kumo/service-kit';

export type { ImageStatus, ImageVisibility };

/** Data received by `PUT /stage` (glance-direct), waiting for `POST /import`. */
export interface StagedData {
  path: string;
  size: number;
  checksum: string;
  osHashValue: string;
}

/** An image as the service sees it (the database row, typed). */
export interface Image {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: ImageVisibility;
  protected: boolean;
  osHidden: boolean;
  owner: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  size: number | null;
  virtualSize: number | null;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  minRam: number;
  minDisk: number;
  properties: Record<string, string>;
  tags: string[];
  /** Store driver id and store-specific locator of the data, when there is data. */
  store: string | null;
  location: string | null;
  /** Why the image was killed (inspection refusal), shown as `os_glance_failure_reason`. */
  failureReason: string | null;
  staged: StagedData | null;
  /** `host:pid` of the process currently writing this image's data. */
  uploadOwner: string | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'] as const;
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'] as const;
export const VISIBILITIES: readonly ImageVisibility[] = ['public', 'private', 'shared', 'community'];
export const STATUSES: readonly ImageStatus[] = ['queued', 'saving', 'active', 'killed', 'deleted', 'pending_delete', 'deactivated', 'uploading', 'importing'];
export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** Glance's limits (image_property_quota, image_tag_quota, image_member_quota). */
export const MAX_PROPERTIES = 128;
export const MAX_TAGS = 128;
export const MAX_MEMBERS = 128;

/** Attributes a client may set (create) or change (PATCH). */
export const WRITABLE_BASE = ['name', 'visibility', 'protected', 'os_hidden', 'disk_format', 'container_format', 'min_ram', 'min_disk', 'tags', 'owner'] as const;
/** Attributes the server computes: refused with 403 "read-only" like Glance. */
export const READ_ONLY = ['id', 'status', 'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size', 'created_at', 'updated_at', 'direct_url', 'self', 'file', 'schema', 'stores'] as const;
/** Names Glance reserves: refused with 403 "reserved". `locations` is not supported here. */
export const RESERVED = ['location', 'locations', 'deleted', 'deleted_at'] as const;
/** Properties in this namespace belong to the service (Glance's os_glance_* rule). */
export const RESERVED_PREFIX = 'os_glance';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX) || (RESERVED as readonly string[]).includes(key);
}

/**
 * Checks one attribute value as Glance's image schema does (glanceclient image_schema.py) and
 * returns it normalised. `key` is a base attribute or a free-form property.
 * Throws 400 in Glance's wording; read-only / reserved names are the caller's business.
 */
export function validateAttribute(key: string, value: unknown): unknown {
  const bad = (what: string) => ApiError.badRequest(`Invalid value ${JSON.stringify(value)} for '${key}': ${what}.`);
  switch (key) {
    case 'name':
    case 'owner':
      if (value !== null && typeof value !== 'string') throw bad('must be a string or null');
      if (typeof value === 'string' && value.length > 255) throw bad('at most 255 characters');
      return value;
    case 'visibility':
      if (!VISIBILITIES.includes(value as ImageVisibility)) throw bad(`must be one of ${VISIBILITIES.join(', ')}`);
      return value;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') throw bad('must be a boolean');
      return value;
    case 'disk_format':
      if (value !== null && !(DISK_FORMATS as readonly unknown[]).includes(value)) throw bad(`must be one of ${DISK_FORMATS.join(', ')}`);
      return value;
    case 'container_format':
      if (value !== null && !(CONTAINER_FORMATS as readonly unknown[]).includes(value)) throw bad(`must be one of ${CONTAINER_FORMATS.join(', ')}`);
      return value;
    case 'min_ram':
    case 'min_disk':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 31 - 1) throw bad('must be a non-negative integer');
      return value;
    case 'tags': {
      if (!Array.isArray(value)) throw bad('must be an array of strings');
      for (const t of value) validateTag(t);
      const unique = [...new Set(value as string[])];
      if (unique.length > MAX_TAGS) throw ApiError.tooLarge(`Maximum number of tags exceeded: at most ${MAX_TAGS} tags per image.`);
      return unique;
    }
    case 'kernel_id':
    case 'ramdisk_id':
      if (value !== null && !isUuid(value)) throw bad('must be the id (a UUID) of an image');
      return value;
    default:
      return validateProperty(key, value);
  }
}

export function validatePropertyKey(key: string): void {
  if (key.length === 0 || key.length > 255) throw ApiError.badRequest(`Invalid property name ${JSON.stringify(key)}: 1 to 255 characters.`);
}

/** Free-form properties are strings, as in Glance's schema (`additionalProperties: {type: string}`). */
export function validateProperty(key: string, value: unknown): string {
  validatePropertyKey(key);
  if (typeof value !== 'string') throw ApiError.badRequest(`Invalid value for property '${key}': properties are strings (got ${value === null ? 'null' : typeof value}).`);
  if (value.length > 65535) throw ApiError.badRequest(`Invalid value for property '${key}': at most 65535 characters.`);
  return value;
}

export function validateTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > 255) throw ApiError.badRequest(`Invalid tag ${JSON.stringify(tag)}: tags are strings of 1 to 255 characters.`);
  return tag;
}

/** Statuses in which the image has (or is about to have) data in the store. */
export const HAS_DATA: readonly ImageStatus[] = ['active', 'deactivated'];
