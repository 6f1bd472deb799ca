import type { ImageRecord } from '@kumo/contracts';
import type { Image } from './image.model.js';
import type { ImageMember } from '../members/member.model.js';

/** Glance's timestamps: ISO 8601 in UTC without fractions (oslo timeutils.isotime). */
export function isoTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The image as Glance v2 renders it: unwrapped, every base attribute present (null when unset),
 * properties as top-level keys, links relative to the API root (openstack-api.md §3.2).
 */
export function renderImage(image: Image): Record<string, unknown> {
  const view: Record<string, unknown> = { ...image.properties };
  Object.assign(view, {
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    protected: image.protected,
    os_hidden: image.osHidden,
    checksum: image.checksum,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    owner: image.owner,
    size: image.size,
    virtual_size: image.virtualSize,
    min_ram: image.minRam,
    min_disk: image.minDisk,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    created_at: isoTime(image.createdAt),
    updated_at: isoTime(image.updatedAt),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  });
  if (image.store && image.location) view.stores = image.store;
  if (image.status === 'killed' && image.failureReason) view.os_glance_failure_reason = image.failureReason;
  return view;
}

export function renderMember(m: ImageMember): Record<string, unknown> {
  return {
    image_id: m.imageId,
    member_id: m.memberId,
    status: m.status,
    created_at: isoTime(m.createdAt),
    updated_at: isoTime(m.updatedAt),
    schema: '/v2/schemas/member',
  };
}

/** The camelCase view other services get over AMQP (contracts ImageRecord). */
export function toRecord(image: Image): ImageRecord {
  return {
    id: image.id,
    name: image.name,
    status: image.status,
    visibility: image.visibility,
    owner: image.owner,
    diskFormat: image.diskFormat,
    containerFormat: image.containerFormat,
    size: image.size,
    virtualSize: image.virtualSize,
    checksum: image.checksum,
    osHashAlgo: image.osHashAlgo,
    osHashValue: image.osHashValue,
    minDisk: image.minDisk,
    minRam: image.minRam,
    protected: image.protected,
    properties: { ...image.properties },
    tags: [...image.tags],
    createdAt: image.createdAt.toISOString(),
    updatedAt: image.updatedAt.toISOString(),
  };
}
