import { ApiError, type AuthContext } from '@kumo/service-kit';

export type Json = Record<string, unknown>;

/** Nova's timestamps: second precision, `Z`. */
export function isoZ(d: Date | string | null | undefined): string | null {
  if (!d) return null;
  return new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `OS-SRV-USG:launched_at` style: microseconds, no zone. */
export function isoMicro(d: Date | string | null | undefined): string | null {
  if (!d) return null;
  return new Date(d).toISOString().replace(/(\.\d{3})Z$/, '$1000');
}

export function isAdmin(auth: AuthContext): boolean {
  return auth.roles.includes('admin');
}

export function projectOf(auth: AuthContext): string {
  if (!auth.projectId) throw ApiError.forbidden('A project-scoped token is required for this request.');
  return auth.projectId;
}

/** The top-level object of a request body, e.g. `{"flavor": {...}}` → the inner object (400 otherwise). */
export function bodyOf(raw: unknown, key: string): Json {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw ApiError.badRequest(`Invalid input for request body: expected an object with "${key}".`);
  const inner = (raw as Json)[key];
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) throw ApiError.badRequest(`Invalid input for field/attribute ${key}. Value: ${JSON.stringify(inner ?? null)}. ${JSON.stringify(inner ?? null)} is not of type 'object'`);
  return inner as Json;
}

export function invalid(field: string, value: unknown, why: string): ApiError {
  return ApiError.badRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value ?? null)}. ${why}`);
}

/** Integers as Nova's JSON schema accepts them: numbers or numeric strings. */
export function intField(o: Json, field: string, opts: { min?: number; max?: number; required?: boolean; fallback?: number } = {}): number | undefined {
  const v = o[field];
  if (v === undefined || v === null || v === '') {
    if (opts.required) throw ApiError.badRequest(`Invalid input for field/attribute ${field}. '${field}' is a required property`);
    return opts.fallback;
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw invalid(field, v, `${JSON.stringify(v)} is not of type 'integer'`);
  if (opts.min !== undefined && n < opts.min) throw invalid(field, v, `${n} is less than the minimum of ${opts.min}`);
  const max = opts.max ?? 2147483647;
  if (n > max) throw invalid(field, v, `${n} is greater than the maximum of ${max}`);
  return n;
}

export function stringField(o: Json, field: string, opts: { required?: boolean; max?: number; min?: number; nullable?: boolean } = {}): string | undefined {
  const v = o[field];
  if (v === undefined || (v === null && opts.nullable)) {
    if (opts.required) throw ApiError.badRequest(`Invalid input for field/attribute ${field}. '${field}' is a required property`);
    return undefined;
  }
  if (typeof v !== 'string') throw invalid(field, v, `${JSON.stringify(v)} is not of type 'string'`);
  if (v.length > (opts.max ?? 255)) throw invalid(field, v, `'${v}' is too long`);
  if (v.length < (opts.min ?? 0)) throw invalid(field, v, `'${v}' is too short`);
  return v;
}

export function boolish(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (['true', '1', 't', 'yes', 'y', 'on'].includes(s)) return true;
    if (['false', '0', 'f', 'no', 'n', 'off'].includes(s)) return false;
  }
  throw invalid(field, v, `${JSON.stringify(v)} is not of type 'boolean'`);
}

/** Metadata maps: string keys 1..255, string values ≤255 (Nova's metadata schema). */
export function metadataOf(v: unknown, field = 'metadata'): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(field, v, `${JSON.stringify(v)} is not of type 'object'`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Json)) {
    if (k.length < 1 || k.length > 255) throw invalid(field, v, `metadata key '${k}' must be 1 to 255 characters`);
    if (typeof val !== 'string') throw invalid(field, v, `${JSON.stringify(val)} is not of type 'string'`);
    if (val.length > 255) throw invalid(field, v, `metadata value for '${k}' is too long`);
    out[k] = val;
  }
  return out;
}

export function linksOf(base: string, collection: string, id: string) {
  return [
    { rel: 'self', href: `${base}/v2.1/${collection}/${id}` },
    { rel: 'bookmark', href: `${base}/${collection}/${id}` },
  ];
}

/** limit/marker of a list request; limit capped like Nova's osapi_max_limit (1000). */
export function pageOf(q: Record<string, unknown>): { limit: number; marker?: string } {
  let limit = 1000;
  if (q.limit !== undefined) {
    const n = Number(q.limit);
    if (!Number.isInteger(n) || n < 0) throw ApiError.badRequest(`Invalid input for query parameters limit. Value: ${String(q.limit)}.`);
    limit = Math.min(n, 1000);
  }
  const marker = typeof q.marker === 'string' && q.marker ? q.marker : undefined;
  return { limit, marker };
}

export function nextLink(base: string, path: string, q: Record<string, unknown>, lastId: string): { href: string; rel: 'next' }[] {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (k !== 'marker' && typeof v === 'string') params.set(k, v);
  params.set('marker', lastId);
  return [{ href: `${base}/v2.1/${path}?${params.toString()}`, rel: 'next' }];
}
