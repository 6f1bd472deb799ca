import { ApiError } from '@kumo/service-kit';
import { randomUUID } from 'node:crypto';

/** Keystone ids: 32 lower-case hex characters. */
export function newId(): string {
  return randomUUID().replace(/-/g, '');
}

export type Json = Record<string, unknown>;

// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

export function invalid(field: string, why: string): ApiError {
  return ApiError.badRequest(`Invalid input for field '${field}': ${why}`);
}

/** The wrapped object of a Keystone request body, e.g. `{"project": {...}}` → the project. */
export function wrapped(body: unknown, key: string): Json {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw ApiError.badRequest(`Expecting to find ${key} in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`);
  const v = (body as Json)[key];
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw ApiError.badRequest(`Expecting to find ${key} in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.`);
  return v as Json;
}

interface StrOpts {
  required?: boolean;
  max?: number;
  min?: number;
  nullable?: boolean;
  /** allow control characters (descriptions may contain newlines, never NUL) */
  multiline?: boolean;
}

export function str(o: Json, field: string, opts: StrOpts & { required: true }): string;
export function str(o: Json, field: string, opts?: StrOpts): string | null | undefined;
export function str(o: Json, field: string, opts: StrOpts = {}): string | null | undefined {
  const v = o[field];
  if (v === undefined) {
    if (opts.required) throw invalid(field, `'${field}' is a required property`);
    return undefined;
  }
  if (v === null) {
    if (opts.nullable && !opts.required) return null;
    throw invalid(field, 'None is not of type string');
  }
  if (typeof v !== 'string') throw invalid(field, `${JSON.stringify(v).slice(0, 40)} is not of type string`);
  const max = opts.max ?? 255;
  if (v.length > max) throw invalid(field, `the value is longer than ${max} characters`);
  if (v.length < (opts.min ?? 0)) throw invalid(field, `the value is shorter than ${opts.min} character(s)`);
  if (v.includes('\u0000') || (!opts.multiline && CONTROL.test(v))) throw invalid(field, 'the value contains control characters');
  return v;
}

/** A resource name: 1..max characters, not only blanks, no control characters. */
export function name(o: Json, field = 'name', max = 255, required = true): string | undefined {
  const v = str(o, field, { required, max, min: 1 });
  if (v === undefined || v === null) return undefined;
  if (v.trim() === '') throw invalid(field, 'the value must not be blank');
  return v;
}

export function bool(o: Json, field: string): boolean | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw invalid(field, `${JSON.stringify(v)} is not of type boolean`);
  return v;
}

export function description(o: Json): string | null | undefined {
  return str(o, 'description', { nullable: true, max: 65535, multiline: true });
}

/** Whatever a client added beyond the known attributes (Keystone keeps and echoes it: `email`, ...). */
export function extraOf(o: Json, known: string[]): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    if (known.includes(k)) continue;
    if (k.length > 255 || k.includes('\u0000')) throw invalid(k, 'bad attribute name');
    if (typeof v === 'string' && v.includes('\u0000')) throw invalid(k, 'the value contains control characters');
    out[k] = v;
  }
  return out;
}

/** Query-string booleans as Keystone reads them (`enabled=false`, `enabled=0`). */
export function queryBool(v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).toLowerCase();
  if (['0', 'false', 'f', 'no', 'n', 'off'].includes(s)) return false;
  return true;
}

/** A path or query id: what cannot be an id is simply not found (never a 500 from the database). */
export function isPlausibleId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 255 && !CONTROL.test(v);
}

export function queryStr(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (v.length > 1024 || v.includes('\u0000')) throw ApiError.badRequest('Invalid query parameter.');
  return v;
}
