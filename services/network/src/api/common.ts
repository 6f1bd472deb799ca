import { ApiError, type AuthContext } from '@kumo/service-kit';
import type { Request } from 'express';

/** Who is calling: their project, whether they are admin, whether they may write. */
export interface Caller {
  projectId: string | null;
  isAdmin: boolean;
  /** member (or admin): readers may look, not change. */
  canWrite: boolean;
  requestId?: string;
}

export function callerOf(auth: AuthContext, req?: Request): Caller {
  const isAdmin = auth.roles.includes('admin');
  return {
    projectId: auth.projectId ?? null,
    isAdmin,
    canWrite: isAdmin || auth.roles.includes('member'),
    requestId: req ? (req as { id?: string }).id : undefined,
  };
}

/** The caller used by other services over RPC (they act for a project, or as admin). */
export function serviceCaller(projectId: string | null, asAdmin = false): Caller {
  return { projectId, isAdmin: asAdmin || projectId === null, canWrite: true };
}

/** A Neutron error: `{"NeutronError": {"type", "message", "detail"}}`. */
export function nerr(status: number, type: string, message: string): ApiError {
  return new ApiError(status, message, { type });
}

export const badRequest = (message: string) => nerr(400, 'HTTPBadRequest', message);
export const invalidInput = (message: string) => nerr(400, 'InvalidInput', `Invalid input for operation: ${message}`);
export const notFound = (type: string, message: string) => nerr(404, type, message);
export const conflict = (type: string, message: string) => nerr(409, type, message);
export const forbidden = (message: string) => nerr(403, 'HTTPForbidden', message);
export const policyRefused = (action: string) => nerr(403, 'PolicyNotAuthorized', `(rule:${action}) is disallowed by policy.`);

export function requireWrite(c: Caller, action: string): void {
  if (!c.canWrite) throw policyRefused(action);
}

/** `{"network": {...}}` → the inner object; a bulk `{"networks": [...]}` → the list. */
export function unwrap(body: unknown, singular: string, plural: string): { items: Record<string, unknown>[]; bulk: boolean } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest(`Request body must be a JSON object with a "${singular}" key.`);
  const b = body as Record<string, unknown>;
  if (plural in b) {
    const list = b[plural];
    if (!Array.isArray(list) || !list.length) throw badRequest(`"${plural}" must be a non-empty list of ${singular} objects.`);
    return { items: list.map((x) => objectOf(x, singular)), bulk: true };
  }
  if (!(singular in b)) throw badRequest(`Resource body required: send {"${singular}": {...}}.`);
  return { items: [objectOf(b[singular], singular)], bulk: false };
}

function objectOf(x: unknown, what: string): Record<string, unknown> {
  if (!x || typeof x !== 'object' || Array.isArray(x)) throw badRequest(`"${what}" must be a JSON object.`);
  return x as Record<string, unknown>;
}

/** Refuses attributes the resource does not have, and ones the caller may not set. */
export function checkKeys(body: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw badRequest(`Unrecognized attribute(s) '${k}' for ${what}.`);
  }
}

export function str(body: Record<string, unknown>, key: string, max = 255): string | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (v === null && (key === 'name' || key === 'description')) return '';
  if (typeof v !== 'string') throw invalidInput(`'${String(v)}' is not a valid string for ${key}.`);
  if (v.length > max) throw invalidInput(`'${v.slice(0, 40)}…' exceeds maximum length of ${max} for ${key}.`);
  return v;
}

/** Neutron's convert_to_boolean: true/false, "true"/"false", "1"/"0". */
export function bool(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string' && /^(true|false|1|0)$/i.test(v)) return /^(true|1)$/i.test(v);
  throw invalidInput(`'${String(v)}' cannot be converted to boolean for ${key}.`);
}

export function int(body: Record<string, unknown>, key: string, min: number, max: number): number | null | undefined {
  const v = body[key];
  if (v === undefined || v === null) return v as undefined | null;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw invalidInput(`'${String(v)}' is not an integer in [${min}, ${max}] for ${key}.`);
  return n;
}

export function tagsOf(body: Record<string, unknown>): string[] | undefined {
  const v = body.tags;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((t) => typeof t !== 'string' || !t || t.length > 255 || t.includes(','))) throw invalidInput('tags must be a list of non-empty strings without commas.');
  return [...new Set(v as string[])];
}

/** The project a create acts for: the caller's, or (admin only) the body's `project_id`/`tenant_id`. */
export function ownerFor(c: Caller, body: Record<string, unknown>): string {
  const asked = (body.project_id ?? body.tenant_id) as unknown;
  if (asked !== undefined && asked !== null) {
    if (typeof asked !== 'string' || !asked) throw invalidInput('project_id must be a non-empty string.');
    if (body.project_id !== undefined && body.tenant_id !== undefined && body.project_id !== body.tenant_id) throw badRequest("'project_id' and 'tenant_id' do not match.");
    if (asked !== c.projectId && !c.isAdmin) throw badRequest('Specifying \'project_id\' or \'tenant_id\' other than the authenticated project in request requires admin privileges.');
    return asked;
  }
  if (!c.projectId) throw badRequest('A project-scoped token (or project_id, as admin) is needed to create resources.');
  return c.projectId;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);

export const std = (r: Record<string, unknown>) => ({
  tenant_id: r.project_id,
  project_id: r.project_id,
  created_at: iso(r.created_at),
  updated_at: iso(r.updated_at),
  revision_number: Number(r.revision_number ?? 0),
  tags: (r.tags as string[]) ?? [],
});

export function iso(d: unknown): string {
  return d instanceof Date ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : String(d);
}
