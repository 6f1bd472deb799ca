import { ApiError } from '@kumo/service-kit';
import { READ_ONLY, RESERVED, RESERVED_PREFIX } from './image.model.js';

/**
 * Glance's two PATCH dialects (glance/api/v2/images.py RequestDeserializer.update):
 *
 *   application/openstack-images-v2.1-json-patch  (openstacksdk / OSC; RFC 6902 subset)
 *     [{"op": "add", "path": "/hw_disk_bus", "value": "virtio"}, {"op": "remove", "path": "/k"}]
 *   application/openstack-images-v2.0-json-patch  (Tempest, older glanceclient)
 *     [{"replace": "/name", "value": "x"}, {"remove": "/k"}]
 *
 * Both address top-level attributes only. The dialects differ on `add` of a key that already
 * exists: 2.1 replaces it, 2.0 answers 409 (Glance's json_schema_version 10 vs 4).
 */
export const PATCH_MEDIA_TYPES = ['application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch'] as const;
export type PatchDialect = '2.0' | '2.1';
export type PatchOp = 'add' | 'replace' | 'remove';

export interface PatchChange {
  op: PatchOp;
  /** The top-level attribute or property name (JSON pointer decoded). */
  key: string;
  value?: unknown;
}

const OPS: PatchOp[] = ['add', 'remove', 'replace'];

/** The dialect of a Content-Type header, or a 415 naming the accepted ones (with `Accept-Patch`). */
export function dialectOf(contentType: string | undefined): PatchDialect {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === PATCH_MEDIA_TYPES[0]) return '2.1';
  if (type === PATCH_MEDIA_TYPES[1]) return '2.0';
  const accepted = [...PATCH_MEDIA_TYPES].sort().join(', ');
  throw new ApiError(415, `Unsupported Content-Type ${JSON.stringify(type || '(none)')} for PATCH: use one of ${accepted}.`, {
    headers: { 'Accept-Patch': accepted },
  });
}

/** RFC 6901 pointer → segments; refuses what Glance refuses. */
export function decodePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string') throw ApiError.badRequest(`Invalid JSON pointer ${JSON.stringify(pointer)}: it must be a string.`);
  if (!pointer.startsWith('/')) throw ApiError.badRequest(`Pointer \`${pointer}\` does not start with "/".`);
  if (/~(?![01])/.test(pointer)) throw ApiError.badRequest(`Invalid JSON pointer \`${pointer}\`: "~" must be followed by 0 or 1.`);
  if (pointer.endsWith('/') || pointer.includes('//')) throw ApiError.badRequest(`Pointer \`${pointer}\` contains an empty segment.`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function checkPath(segments: string[], pointer: string): string {
  if (segments.length !== 1) throw ApiError.badRequest(`Invalid JSON pointer for this resource: '${pointer}'. Only top-level attributes can be changed.`);
  const key = segments[0]!;
  if ((READ_ONLY as readonly string[]).includes(key)) throw ApiError.forbidden(`Attribute '${key}' is read-only.`);
  if ((RESERVED as readonly string[]).includes(key) || key.startsWith(RESERVED_PREFIX)) throw ApiError.forbidden(`Attribute '${key}' is reserved.`);
  return key;
}

/** Parses and checks a PATCH body. Nothing is applied here: a refused change refuses the whole request. */
export function parsePatch(body: unknown, dialect: PatchDialect): PatchChange[] {
  if (!Array.isArray(body)) throw ApiError.badRequest('Request body must be a JSON array of operation objects.');
  return body.map((raw: unknown) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw ApiError.badRequest('Operations must be JSON objects.');
    const change = raw as Record<string, unknown>;
    let op: PatchOp;
    let pointer: unknown;
    if (dialect === '2.1') {
      if (!('op' in change)) throw ApiError.badRequest(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`);
      if (!OPS.includes(change.op as PatchOp)) throw ApiError.badRequest(`Invalid operation: \`${String(change.op)}\`. It must be one of the following: ${OPS.join(', ')}.`);
      op = change.op as PatchOp;
      if (!('path' in change)) throw ApiError.badRequest('Unable to find `path` in JSON Schema change.');
      pointer = change.path;
    } else {
      const present = OPS.filter((o) => o in change);
      if (present.length === 0) throw ApiError.badRequest(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPS.join(', ')}.`);
      if (present.length > 1) throw ApiError.badRequest("Operation objects must contain only one member named 'add', 'remove', or 'replace'.");
      op = present[0]!;
      pointer = change[op];
    }
    const key = checkPath(decodePointer(pointer), String(pointer));
    if (op === 'remove') return { op, key };
    if (!('value' in change)) throw ApiError.badRequest('Unable to find `value` in JSON Schema change.');
    return { op, key, value: change.value };
  });
}
