import { ApiError } from '@kumo/service-kit';
import { CONTAINER_FORMATS, DISK_FORMATS, isUuid, MEMBER_STATUSES, STATUSES, VISIBILITIES } from './image.model.js';

/**
 * `GET /v2/images` query → a typed ListQuery (pure; the repository turns it into SQL).
 * Glance semantics: filters are exact matches (plus `in:` lists, `size_min/max`, time
 * operators), any other key filters on a property, `tag` repeats (all must match), default
 * page 25 (max 1000), default order created_at desc, keyset pagination by `marker`.
 */
export const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'virtual_size', 'id', 'created_at', 'updated_at', 'visibility', 'owner', 'min_ram', 'min_disk'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';
export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;

export type Comparison = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte';

export interface ListQuery {
  /** column → allowed values (exact match; several = `in:`) */
  equals: Partial<Record<'id' | 'name' | 'status' | 'visibility' | 'owner' | 'container_format' | 'disk_format' | 'checksum' | 'os_hash_value', string[]>>;
  numbers: Partial<Record<'size' | 'virtual_size' | 'min_ram' | 'min_disk', number>>;
  sizeMin?: number;
  sizeMax?: number;
  booleans: Partial<Record<'protected' | 'os_hidden', boolean>>;
  times: { column: 'created_at' | 'updated_at'; op: Comparison; at: Date }[];
  tags: string[];
  properties: Record<string, string>;
  /** Only meaningful with shared images a project is a member of; default accepted. */
  memberStatus: 'pending' | 'accepted' | 'rejected' | 'all';
  /** `visibility=all`: every visibility, community images of others included. */
  visibilityAll: boolean;
  sort: { key: SortKey; dir: SortDir }[];
  limit: number;
  marker?: string;
}

type Raw = Record<string, string | string[] | undefined>;

const single = (raw: Raw, key: string): string | undefined => {
  const v = raw[key];
  if (Array.isArray(v)) throw ApiError.badRequest(`Parameter ${key} may be given only once.`);
  return v;
};

const all = (raw: Raw, key: string): string[] => {
  const v = raw[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

function integer(key: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw ApiError.badRequest(`Parameter ${key} must be an integer (got ${JSON.stringify(value)}).`);
  return Number(value);
}

function boolean(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw ApiError.badRequest(`Parameter ${key} must be true or false (got ${JSON.stringify(value)}).`);
}

function listValue(key: string, value: string): string[] {
  if (value.startsWith('in:')) {
    const items = value.slice(3).split(',').map((v) => v.trim()).filter(Boolean);
    if (items.length === 0) throw ApiError.badRequest(`Parameter ${key}: "in:" needs at least one value.`);
    return items;
  }
  return [value];
}

function enumCheck(key: string, values: string[], allowed: readonly string[]) {
  for (const v of values) if (!allowed.includes(v)) throw ApiError.badRequest(`Invalid ${key} value: ${v}. It should be one of: ${allowed.join(', ')}.`);
}

function timeFilter(column: 'created_at' | 'updated_at', value: string) {
  const m = /^(?:(eq|neq|gt|gte|lt|lte):)?(.+)$/.exec(value)!;
  const at = new Date(m[2]!);
  if (Number.isNaN(at.getTime())) throw ApiError.badRequest(`Parameter ${column}: ${JSON.stringify(m[2])} is not an ISO 8601 time.`);
  return { column, op: (m[1] ?? 'eq') as Comparison, at };
}

function parseSort(raw: Raw): ListQuery['sort'] {
  const sort = single(raw, 'sort');
  const keys = all(raw, 'sort_key');
  const dirs = all(raw, 'sort_dir');
  const checkKey = (k: string): SortKey => {
    if (!(SORT_KEYS as readonly string[]).includes(k)) throw ApiError.badRequest(`Invalid sort key: ${k}. It should be one of the following: ${SORT_KEYS.join(', ')}.`);
    return k as SortKey;
  };
  const checkDir = (d: string): SortDir => {
    if (d !== 'asc' && d !== 'desc') throw ApiError.badRequest(`Invalid sort direction: ${d}. It should be asc or desc.`);
    return d;
  };
  if (sort !== undefined) {
    if (keys.length || dirs.length) throw ApiError.badRequest('The "sort" parameter cannot be combined with "sort_key" or "sort_dir".');
    return sort
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const [k, d] = part.split(':');
        return { key: checkKey(k!.trim()), dir: d === undefined ? 'desc' : checkDir(d.trim()) };
      });
  }
  if (dirs.length > 1 && dirs.length !== keys.length) throw ApiError.badRequest('Give one sort_dir, or one per sort_key.');
  if (keys.length === 0) {
    if (dirs.length > 1) throw ApiError.badRequest('Give one sort_dir, or one per sort_key.');
    return [{ key: 'created_at', dir: dirs[0] ? checkDir(dirs[0]) : 'desc' }];
  }
  return keys.map((k, i) => ({ key: checkKey(k), dir: checkDir(dirs.length > 1 ? dirs[i]! : (dirs[0] ?? 'desc')) }));
}

const CONSUMED = new Set(['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'tag', 'member_status', 'size_min', 'size_max', 'created_at', 'updated_at']);

export function parseListQuery(raw: Raw): ListQuery {
  const q: ListQuery = { equals: {}, numbers: {}, booleans: {}, times: [], tags: [], properties: {}, memberStatus: 'accepted', visibilityAll: false, sort: parseSort(raw), limit: DEFAULT_LIMIT };

  const limit = single(raw, 'limit');
  if (limit !== undefined) {
    const n = integer('limit', limit);
    if (n < 0) throw ApiError.badRequest('limit param must be positive.');
    q.limit = Math.min(n, MAX_LIMIT);
  }
  const marker = single(raw, 'marker');
  if (marker !== undefined) {
    if (!isUuid(marker)) throw ApiError.badRequest(`Invalid marker. Image ${marker} could not be found.`);
    q.marker = marker.toLowerCase();
  }
  q.tags = all(raw, 'tag');
  const ms = single(raw, 'member_status');
  if (ms !== undefined) {
    enumCheck('member_status', [ms], [...MEMBER_STATUSES, 'all']);
    q.memberStatus = ms as ListQuery['memberStatus'];
  }
  const sizeMin = single(raw, 'size_min');
  if (sizeMin !== undefined) q.sizeMin = integer('size_min', sizeMin);
  const sizeMax = single(raw, 'size_max');
  if (sizeMax !== undefined) q.sizeMax = integer('size_max', sizeMax);
  for (const col of ['created_at', 'updated_at'] as const) for (const v of all(raw, col)) q.times.push(timeFilter(col, v));

  for (const [key, value] of Object.entries(raw)) {
    if (CONSUMED.has(key) || value === undefined) continue;
    const v = single(raw, key)!;
    switch (key) {
      case 'id':
      case 'name':
      case 'status':
      case 'visibility':
      case 'owner':
      case 'container_format':
      case 'disk_format':
      case 'checksum':
      case 'os_hash_value': {
        const values = listValue(key, v);
        if (key === 'status') enumCheck(key, values, STATUSES);
        if (key === 'visibility') enumCheck(key, values, [...VISIBILITIES, 'all']);
        if (key === 'disk_format') enumCheck(key, values, DISK_FORMATS);
        if (key === 'container_format') enumCheck(key, values, CONTAINER_FORMATS);
        if (key === 'visibility' && values.includes('all')) {
          q.visibilityAll = true;
          break;
        }
        q.equals[key] = values;
        break;
      }
      case 'size':
      case 'virtual_size':
      case 'min_ram':
      case 'min_disk':
        q.numbers[key] = integer(key, v);
        break;
      case 'protected':
      case 'os_hidden':
        q.booleans[key] = boolean(key, v);
        break;
      default:
        q.properties[key] = v;
    }
  }
  return q;
}

/** Query string of the `next` link: the caller's parameters with the new marker. */
export function nextQuery(raw: Raw, marker: string): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'marker' || v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  }
  params.append('marker', marker);
  return params.toString();
}

export function firstQuery(raw: Raw): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'marker' || v === undefined) continue;
    for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  }
  return params.toString();
}
