import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { bodyOf, boolish, intField, isAdmin, invalid, type Json, stringField } from '../common/nova.js';
import { Db } from '../db/db.js';

export interface FlavorRow {
  id: string;
  seq: string;
  name: string;
  vcpus: number;
  memory_mb: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  rxtx_factor: number;
  is_public: boolean;
  disabled: boolean;
  description: string | null;
  extra_specs: Record<string, string>;
}

const EXTRA_SPEC_KEY = /^[\w.:-]{1,255}$/;

/** Flavors: public ones for everybody, private ones for admins and the projects given access. */
@Injectable()
export class FlavorsService {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
  ) {}

  /** The visibility clause: admins see everything, others public + private flavors shared with them. */
  private visible(auth: AuthContext, params: unknown[]): string {
    if (isAdmin(auth)) return 'true';
    params.push(auth.projectId ?? '');
    return `(f.is_public OR EXISTS (SELECT 1 FROM ${this.db.t('flavor_project')} fp WHERE fp.flavor_id = f.id AND fp.project_id = $${params.length}))`;
  }

  async list(auth: AuthContext, q: Record<string, unknown>, limit: number, marker?: string): Promise<FlavorRow[]> {
    const params: unknown[] = [];
    const where: string[] = [this.visible(auth, params)];
    const isPublic = typeof q.is_public === 'string' ? q.is_public.toLowerCase() : undefined;
    if (isPublic === undefined) {
      // Nova: without is_public, admins see public flavors only; everybody else what they may use.
      if (isAdmin(auth)) where.push('f.is_public');
    } else if (isPublic !== 'none') {
      const b = boolish(isPublic, 'is_public');
      params.push(b);
      where.push(`f.is_public = $${params.length}`);
    }
    for (const [key, col] of [['minRam', 'memory_mb'], ['minDisk', 'root_gb']] as const) {
      if (q[key] !== undefined) {
        const n = Number(q[key]);
        if (!Number.isInteger(n) || n < 0) throw ApiError.badRequest(`Invalid ${key} filter [${String(q[key])}]`);
        params.push(n);
        where.push(`f.${col} >= $${params.length}`);
      }
    }
    const sortKeys: Record<string, string> = { flavorid: 'f.id', id: 'f.seq', name: 'f.name', memory_mb: 'f.memory_mb', ram: 'f.memory_mb', vcpus: 'f.vcpus', root_gb: 'f.root_gb', disk: 'f.root_gb', swap: 'f.swap', created_at: 'f.seq' };
    const sortKey = typeof q.sort_key === 'string' ? q.sort_key : 'flavorid';
    const sortCol = sortKeys[sortKey];
    if (!sortCol) throw ApiError.badRequest(`Invalid input for query parameters sort_key. Value: ${sortKey}.`);
    const dir = q.sort_dir === undefined ? 'asc' : String(q.sort_dir).toLowerCase();
    if (dir !== 'asc' && dir !== 'desc') throw ApiError.badRequest(`Invalid input for query parameters sort_dir. Value: ${dir}.`);
    const all = await this.db.rows<FlavorRow>(`SELECT f.* FROM ${this.db.t('flavor')} f WHERE ${where.join(' AND ')} ORDER BY ${sortCol} ${dir}, f.seq ${dir}`, params);
    let start = 0;
    if (marker) {
      const i = all.findIndex((f) => f.id === marker);
      if (i < 0) throw ApiError.badRequest(`marker [${marker}] not found`);
      start = i + 1;
    }
    return all.slice(start, start + limit);
  }

  async get(auth: AuthContext, id: string): Promise<FlavorRow> {
    const params: unknown[] = [id];
    const rows = await this.db.rows<FlavorRow>(`SELECT f.* FROM ${this.db.t('flavor')} f WHERE f.id = $1 AND ${this.visible(auth, params)}`, params);
    if (!rows[0]) throw ApiError.notFound(`Flavor ${id} could not be found.`);
    return rows[0];
  }

  /** For server create/resize: a flavor the caller may use (404 → Nova's 400 "Flavor ... could not be found"). */
  async usable(auth: AuthContext, id: string): Promise<FlavorRow> {
    try {
      return await this.get(auth, id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw ApiError.badRequest(`Flavor ${id} could not be found.`);
      throw err;
    }
  }

  async create(auth: AuthContext, raw: unknown, version = 2001): Promise<FlavorRow> {
    this.policy.enforce('flavors:manage', auth);
    const b = bodyOf(raw, 'flavor');
    const description = flavorDescriptionOf(b, version);
    const name = stringField(b, 'name', { required: true, min: 1 })!.trim();
    if (!name) throw invalid('name', b.name, 'name must not be blank');
    let id = b.id === undefined || b.id === null || b.id === 'auto' ? randomUUID() : b.id;
    if (typeof id === 'number') id = String(id);
    if (typeof id !== 'string' || !/^[\w.\- ]{1,255}$/.test(id) || id.trim() !== id) throw invalid('id', b.id, 'id must be a string of letters, digits, ., - and _');
    const ram = intField(b, 'ram', { required: true, min: 1 })!;
    const vcpus = intField(b, 'vcpus', { required: true, min: 1 })!;
    const disk = intField(b, 'disk', { required: true, min: 0 })!;
    const swap = b.swap === '' ? 0 : intField(b, 'swap', { min: 0, fallback: 0 })!;
    const ephemeral = intField(b, 'OS-FLV-EXT-DATA:ephemeral', { min: 0, fallback: 0 })!;
    let rxtx = 1.0;
    if (b.rxtx_factor !== undefined) {
      rxtx = Number(b.rxtx_factor);
      if (!(rxtx > 0) || rxtx > 3.40282e38) throw invalid('rxtx_factor', b.rxtx_factor, 'must be a number > 0');
    }
    const isPublic = boolish(b['os-flavor-access:is_public'], 'os-flavor-access:is_public') ?? true;
    try {
      const rows = await this.db.rows<FlavorRow>(
        `INSERT INTO ${this.db.t('flavor')} (id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, rxtx_factor, is_public, description) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING *`,
        [id, name, vcpus, ram, disk, ephemeral, swap, rxtx, isPublic, description ?? null],
      );
      return rows[0]!;
    } catch (err) {
      if ((err as { code?: string }).code === '23505' || /duplicate key/.test((err as Error).message)) {
        throw ApiError.conflict(/flavor_name/.test((err as Error).message) ? `Flavor with name ${name} already exists.` : `Flavor with ID ${id} already exists.`);
      }
      throw err;
    }
  }

  /**
   * 2.55 `PUT /flavors/{id}` `{"flavor": {"description"}}`: the only thing Nova lets change on a
   * flavor (the rest is copied into every server booted from it, so it stays as created).
   */
  async updateDescription(auth: AuthContext, id: string, raw: unknown): Promise<FlavorRow> {
    this.policy.enforce('flavors:update', auth);
    const b = bodyOf(raw, 'flavor');
    for (const k of Object.keys(b)) if (k !== 'description') throw invalid('flavor', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    if (!('description' in b)) throw ApiError.badRequest("Invalid input for field/attribute flavor. Value: " + JSON.stringify(b) + ". 'description' is a required property");
    const description = flavorDescriptionOf(b, 2055) ?? null;
    const [row] = await this.db.rows<FlavorRow>(`UPDATE ${this.db.t('flavor')} SET description = $2 WHERE id = $1 RETURNING *`, [id, description]);
    if (!row) throw ApiError.notFound(`Flavor ${id} could not be found.`);
    return row;
  }

  async delete(auth: AuthContext, id: string): Promise<void> {
    this.policy.enforce('flavors:manage', auth);
    const n = await this.db.exec(`DELETE FROM ${this.db.t('flavor')} WHERE id = $1`, [id]);
    if (!n) throw ApiError.notFound(`Flavor ${id} could not be found.`);
  }

  async setExtraSpecs(auth: AuthContext, id: string, specs: Json): Promise<Record<string, string>> {
    this.policy.enforce('flavors:manage', auth);
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(specs)) {
      if (!EXTRA_SPEC_KEY.test(k)) throw invalid('extra_specs', specs, `key '${k}' must be 1-255 letters, digits, '_', '-', '.', ':'`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw invalid('extra_specs', specs, `value of '${k}' must be a string`);
      const s = String(v);
      if (s.length > 255) throw invalid('extra_specs', specs, `value of '${k}' is too long`);
      clean[k] = s;
    }
    const rows = await this.db.rows<{ extra_specs: Record<string, string> }>(`UPDATE ${this.db.t('flavor')} SET extra_specs = extra_specs || $2::jsonb WHERE id = $1 RETURNING extra_specs`, [id, JSON.stringify(clean)]);
    if (!rows[0]) throw ApiError.notFound(`Flavor ${id} could not be found.`);
    return clean;
  }

  async deleteExtraSpec(auth: AuthContext, id: string, key: string): Promise<void> {
    this.policy.enforce('flavors:manage', auth);
    const f = await this.get(auth, id);
    if (!(key in f.extra_specs)) throw ApiError.notFound(`Flavor ${id} has no extra specs with key ${key}.`);
    await this.db.exec(`UPDATE ${this.db.t('flavor')} SET extra_specs = extra_specs - $2 WHERE id = $1`, [id, key]);
  }

  async access(auth: AuthContext, id: string): Promise<{ flavor_id: string; tenant_id: string }[]> {
    const f = await this.get(auth, id);
    if (f.is_public) throw ApiError.notFound('Access list not available for public flavors.');
    const rows = await this.db.rows<{ project_id: string }>(`SELECT project_id FROM ${this.db.t('flavor_project')} WHERE flavor_id = $1 ORDER BY project_id`, [id]);
    return rows.map((r) => ({ flavor_id: id, tenant_id: r.project_id }));
  }

  async changeAccess(auth: AuthContext, id: string, raw: unknown, version = 2001): Promise<{ flavor_id: string; tenant_id: string }[]> {
    this.policy.enforce('flavors:manage', auth);
    const body = (raw ?? {}) as Json;
    const op = 'addTenantAccess' in body ? 'add' : 'removeTenantAccess' in body ? 'remove' : undefined;
    if (!op) throw ApiError.badRequest('Invalid action: expected addTenantAccess or removeTenantAccess.');
    const inner = bodyOf(body, op === 'add' ? 'addTenantAccess' : 'removeTenantAccess');
    const tenant = stringField(inner, 'tenant', { required: true, min: 1 })!;
    const f = await this.get(auth, id);
    // 2.7: adding a project to a public flavor is a 409. Below, Nova records it (it changes nothing:
    // everybody sees a public flavor) and answers the list; removing is never refused for that.
    if (f.is_public && op === 'add' && version >= 2007) throw ApiError.conflict(`Can not add access to a public flavor.`);
    if (op === 'add') {
      const n = await this.db.exec(`INSERT INTO ${this.db.t('flavor_project')} (flavor_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [id, tenant]);
      if (!n) throw ApiError.conflict(`Flavor access already exists for flavor ${id} and project ${tenant} combination.`);
    } else {
      const n = await this.db.exec(`DELETE FROM ${this.db.t('flavor_project')} WHERE flavor_id = $1 AND project_id = $2`, [id, tenant]);
      if (!n) throw ApiError.notFound(`Flavor access not found for ${id} / ${tenant} combination.`);
    }
    // The action answers the list even for a public flavor (GET os-flavor-access 404s on those).
    const rows = await this.db.rows<{ project_id: string }>(`SELECT project_id FROM ${this.db.t('flavor_project')} WHERE flavor_id = $1 ORDER BY project_id`, [id]);
    return rows.map((r) => ({ flavor_id: id, tenant_id: r.project_id }));
  }
}

/**
 * 2.55 flavor `description`: null or up to 65535 printable characters (Nova's flavor schema);
 * 400 below 2.55, where Nova's schema has no such field. Undefined when absent.
 */
function flavorDescriptionOf(b: Json, version: number): string | null | undefined {
  if (b.description === undefined) return undefined;
  if (version < 2055) throw invalid('flavor', b, "Additional properties are not allowed ('description' was unexpected)");
  const d = stringField(b, 'description', { nullable: true, max: 65535 });
  if (d === undefined) return null;
  if (!/^[^\p{C}\p{Zl}\p{Zp}]*$/u.test(d)) throw invalid('description', d, 'is not printable');
  return d;
}

/** The flavor body of show, detail, create and update; `description` from 2.55. */
export function flavorView(f: FlavorRow, base: string, version = 2001) {
  return {
    id: f.id,
    name: f.name,
    ram: f.memory_mb,
    vcpus: f.vcpus,
    disk: f.root_gb,
    swap: f.swap === 0 ? '' : f.swap,
    'OS-FLV-EXT-DATA:ephemeral': f.ephemeral_gb,
    'OS-FLV-DISABLED:disabled': f.disabled,
    'os-flavor-access:is_public': f.is_public,
    rxtx_factor: f.rxtx_factor,
    links: [
      { rel: 'self', href: `${base}/v2.1/flavors/${f.id}` },
      { rel: 'bookmark', href: `${base}/flavors/${f.id}` },
    ],
    ...(version >= 2055 ? { description: f.description } : {}),
  };
}
