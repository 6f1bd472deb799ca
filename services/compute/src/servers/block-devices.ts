import { ApiError } from '@kumo/service-kit';
import { invalid, type Json } from '../common/nova.js';
import { isUuid } from './instances.repository.js';

/** The boot disk of a volume-backed server: an existing volume, or a new one made from an image. */
export type BootVolume = ({ source: 'volume'; volumeId: string; deleteOnTermination: boolean } | { source: 'image'; imageId: string; size: number; deleteOnTermination: boolean }) & { tag?: string };

export interface BlockDevices {
  boot: BootVolume | null;
  /** More existing volumes to attach at boot (boot_index null or -1), in request order. */
  extra: { volumeId: string; deleteOnTermination: boolean; tag?: string }[];
}

const KEYS = new Set(['source_type', 'destination_type', 'boot_index', 'uuid', 'volume_size', 'delete_on_termination', 'device_name', 'disk_bus', 'device_type', 'guest_format', 'volume_type']);

/**
 * Whether a BDM may carry a device `tag` at this microversion: Nova added it at 2.32, lost it from
 * 2.33 (its schema was chosen with `version == '2.32'`) and restored it at 2.42.
 */
export function bdmTagAllowed(version: number): boolean {
  return version === 2032 || version >= 2042;
}

/** Nova's `tag` parameter type (device tags on NICs and block devices). */
export function checkDeviceTag(tag: unknown): string {
  if (typeof tag !== 'string' || tag.length < 1 || tag.length > 60 || /[/,]/.test(tag)) throw invalid('tag', tag, 'must be 1 to 60 characters without "/" or ","');
  return tag;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && ['true', 'false', 'True', 'False', '1', '0'].includes(v)) return ['true', 'True', '1'].includes(v);
  throw invalid(field, v, "is not of type 'boolean'");
}

/**
 * Nova's `block_device_mapping_v2`, the subset a volume-only cloud honours: the boot disk as a
 * volume (`source_type: volume` with a volume uuid, or `source_type: image` with an image uuid and
 * `volume_size`, both `destination_type: volume`, `boot_index: 0`), plus existing volumes without
 * a boot index. `source_type: image, destination_type: local, boot_index 0` is the image boot
 * written as a BDM and means the same as `imageRef`. Everything else (blank/snapshot sources,
 * ephemeral and swap disks, the legacy `block_device_mapping`) is a 400 naming what is missing.
 */
export function parseBlockDevices(v2: unknown, legacy: unknown, version = 2042): BlockDevices | null {
  if (legacy !== undefined) throw ApiError.badRequest('The legacy block_device_mapping is not supported; use block_device_mapping_v2.');
  if (v2 === undefined) return null;
  if (!Array.isArray(v2)) throw invalid('block_device_mapping_v2', v2, "is not of type 'array'");
  const out: BlockDevices = { boot: null, extra: [] };
  for (const raw of v2) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('block_device_mapping_v2', raw, "is not of type 'object'");
    const d = raw as Json;
    for (const k of Object.keys(d)) if (!KEYS.has(k) && !(k === 'tag' && bdmTagAllowed(version))) throw invalid('block_device_mapping_v2', d, `Additional properties are not allowed ('${k}' was unexpected)`);
    const tag = d.tag === undefined ? {} : { tag: checkDeviceTag(d.tag) };
    const source = d.source_type ?? 'volume';
    const dest = d.destination_type ?? (source === 'volume' ? 'volume' : 'local');
    const bootIndex = d.boot_index === undefined || d.boot_index === null || d.boot_index === 'none' ? null : Number(d.boot_index);
    if (bootIndex !== null && (!Number.isInteger(bootIndex) || bootIndex < -1)) throw invalid('boot_index', d.boot_index, "is not of type 'integer'");
    const uuid = d.uuid;
    const dot = bool(d.delete_on_termination, 'delete_on_termination');
    if (source === 'image' && dest === 'local') {
      if (bootIndex !== 0) throw ApiError.badRequest('Block Device Mapping is Invalid: an image mapped to a local disk must be the boot device (boot_index 0).');
      continue; // the image boot, as with imageRef
    }
    if (dest !== 'volume') throw ApiError.badRequest(`Block Device Mapping is Invalid: destination_type ${String(dest)} (ephemeral/swap disks) is not supported by this cloud.`);
    if (source !== 'volume' && source !== 'image') throw ApiError.badRequest(`Block Device Mapping is Invalid: source_type ${String(source)} is not supported by this cloud (use volume or image).`);
    if (typeof uuid !== 'string' || !isUuid(uuid)) throw invalid('uuid', uuid, "is not a 'uuid'");
    if (bootIndex === 0) {
      if (out.boot) throw ApiError.badRequest('Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.');
      if (source === 'volume') out.boot = { source: 'volume', volumeId: uuid, deleteOnTermination: dot, ...tag };
      else {
        const size = d.volume_size === undefined || d.volume_size === null ? NaN : Number(d.volume_size);
        if (!Number.isInteger(size) || size < 1) throw ApiError.badRequest('Block Device Mapping is Invalid: Images with destination_type volume need source volume size set (volume_size of at least 1).');
        out.boot = { source: 'image', imageId: uuid, size, deleteOnTermination: dot, ...tag };
      }
    } else if (bootIndex !== null && bootIndex > 0) {
      throw ApiError.badRequest('Block Device Mapping is Invalid: only one boot device (boot_index 0) is supported.');
    } else {
      if (source !== 'volume') throw ApiError.badRequest('Block Device Mapping is Invalid: only existing volumes can be attached besides the boot device.');
      if (out.extra.some((e) => e.volumeId === uuid) || (out.boot?.source === 'volume' && out.boot.volumeId === uuid)) throw ApiError.badRequest(`Block Device Mapping is Invalid: volume ${uuid} is mapped twice.`);
      out.extra.push({ volumeId: uuid, deleteOnTermination: dot, ...tag });
    }
  }
  return out;
}
