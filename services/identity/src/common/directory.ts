import { Injectable } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import { Db, type Sql } from '../db/db.service.js';
import { type Json, isPlausibleId } from './validate.js';

export interface DomainRow {
  id: string;
  name: string;
  description: string | null;
  enabled: boolean;
  tags: string[];
  extra: Json;
}
export interface ProjectRow {
  id: string;
  name: string;
  domain_id: string;
  parent_id: string | null;
  description: string | null;
  enabled: boolean;
  tags: string[];
  extra: Json;
}
export interface UserRow {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
  default_project_id: string | null;
  password_hash: string | null;
  password_created_at: Date | null;
  failed_auth_count: number;
  failed_auth_at: Date | null;
  idp_id: string | null;
  protocol_id: string | null;
  unique_id: string | null;
  extra: Json;
}
export interface RoleRow {
  id: string;
  name: string;
  domain_id: string | null;
  description: string | null;
  options: Json;
  extra: Json;
}
export interface EndpointRow {
  service_id: string;
  type: string;
  service_name: string | null;
  id: string;
  interface: string;
  region_id: string | null;
  url: string;
}

export type Scope = { project: ProjectRow } | { domain: DomainRow } | { system: true } | Record<string, never>;

const notFound = (kind: string, id: string) => ApiError.notFound(`Could not find ${kind}: ${id}.`);

/**
 * Look-ups every part of identity needs: objects by id or name (a missing one is Keystone's
 * 404), effective roles of a user on a scope (direct, through groups, inherited from the
 * domain or parent projects, implied roles expanded), and the service catalog.
 */
@Injectable()
export class Directory {
  private catalogCache?: { at: number; rows: EndpointRow[] };

  constructor(private readonly db: Db) {}

  invalidateCatalog(): void {
    this.catalogCache = undefined;
  }

  async domain(id: string, sql: Sql = this.db): Promise<DomainRow> {
    const d = isPlausibleId(id) ? await sql.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [id]) : undefined;
    if (!d) throw notFound('domain', id);
    return d;
  }

  async domainByName(name: string, sql: Sql = this.db): Promise<DomainRow | undefined> {
    return sql.one<DomainRow>(`SELECT * FROM identity.domain WHERE lower(name) = lower($1)`, [name]);
  }

  async project(id: string, sql: Sql = this.db): Promise<ProjectRow> {
    const p = isPlausibleId(id) ? await sql.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [id]) : undefined;
    if (!p) throw notFound('project', id);
    return p;
  }

  async user(id: string, sql: Sql = this.db): Promise<UserRow> {
    const u = isPlausibleId(id) ? await sql.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [id]) : undefined;
    if (!u) throw notFound('user', id);
    return u;
  }

  async group(id: string, sql: Sql = this.db): Promise<Json> {
    const g = isPlausibleId(id) ? await sql.one<Json>(`SELECT * FROM identity.groups WHERE id = $1`, [id]) : undefined;
    if (!g) throw notFound('group', id);
    return g;
  }

  async role(id: string, sql: Sql = this.db): Promise<RoleRow> {
    const r = isPlausibleId(id) ? await sql.one<RoleRow>(`SELECT * FROM identity.role WHERE id = $1`, [id]) : undefined;
    if (!r) throw notFound('role', id);
    return r;
  }

  async globalRolesByName(names: string[]): Promise<RoleRow[]> {
    return this.db.q<RoleRow>(`SELECT * FROM identity.role WHERE domain_id IS NULL AND name = ANY($1) ORDER BY name`, [names]);
  }

  /** Ancestors of a project, nearest first (not including the project). */
  async ancestors(projectId: string, sql: Sql = this.db): Promise<ProjectRow[]> {
    return sql.q<ProjectRow>(
      `WITH RECURSIVE a AS (SELECT p.*, 0 AS depth FROM identity.project p WHERE p.id = (SELECT parent_id FROM identity.project WHERE id = $1)
         UNION ALL SELECT p.*, a.depth + 1 FROM identity.project p JOIN a ON p.id = a.parent_id)
       SELECT * FROM a ORDER BY depth`,
      [projectId],
    );
  }

  async descendants(projectId: string, sql: Sql = this.db): Promise<ProjectRow[]> {
    return sql.q<ProjectRow>(
      `WITH RECURSIVE d AS (SELECT p.* FROM identity.project p WHERE p.parent_id = $1
         UNION ALL SELECT p.* FROM identity.project p JOIN d ON p.parent_id = d.id)
       SELECT * FROM d`,
      [projectId],
    );
  }

  /** Role ids assigned to the user (directly or through a group) that apply to the target. */
  async assignedRoleIds(userId: string, target: { projectId?: string; domainId?: string; system?: boolean }, sql: Sql = this.db): Promise<string[]> {
    let rows: { role_id: string }[];
    const actors = `(SELECT 'user'::text AS t, $1::text AS id UNION ALL SELECT 'group', group_id FROM identity.group_member WHERE user_id = $1)`;
    if (target.projectId) {
      rows = await sql.q(
        `WITH RECURSIVE anc AS (SELECT id, parent_id, domain_id FROM identity.project WHERE id = $2
             UNION ALL SELECT p.id, p.parent_id, p.domain_id FROM identity.project p JOIN anc ON p.id = anc.parent_id)
         SELECT DISTINCT a.role_id FROM identity.assignment a JOIN ${actors} ac ON a.actor_type = ac.t AND a.actor_id = ac.id
         WHERE (a.target_type = 'project' AND a.target_id = $2 AND NOT a.inherited)
            OR (a.target_type = 'project' AND a.inherited AND a.target_id IN (SELECT id FROM anc WHERE id <> $2))
            OR (a.target_type = 'domain' AND a.inherited AND a.target_id = (SELECT domain_id FROM identity.project WHERE id = $2))`,
        [userId, target.projectId],
      );
    } else if (target.domainId) {
      rows = await sql.q(
        `SELECT DISTINCT a.role_id FROM identity.assignment a JOIN ${actors} ac ON a.actor_type = ac.t AND a.actor_id = ac.id
         WHERE a.target_type = 'domain' AND a.target_id = $2 AND NOT a.inherited`,
        [userId, target.domainId],
      );
    } else {
      rows = await sql.q(
        `SELECT DISTINCT a.role_id FROM identity.assignment a JOIN ${actors} ac ON a.actor_type = ac.t AND a.actor_id = ac.id
         WHERE a.target_type = 'system' AND a.target_id = 'all'`,
        [userId],
      );
    }
    return rows.map((r) => r.role_id);
  }

  /** The roles plus every role they imply, transitively. */
  async expandImplied(roleIds: string[], sql: Sql = this.db): Promise<RoleRow[]> {
    if (roleIds.length === 0) return [];
    return sql.q<RoleRow>(
      `WITH RECURSIVE r(id) AS (SELECT unnest($1::varchar[]) UNION SELECT i.implied_role_id FROM identity.implied_role i JOIN r ON i.prior_role_id = r.id)
       SELECT role.* FROM r JOIN identity.role role ON role.id = r.id ORDER BY role.name`,
      [roleIds],
    );
  }

  /** Effective global roles for a token: domain-specific roles only count through the global roles they imply. */
  async effectiveRoles(userId: string, target: { projectId?: string; domainId?: string; system?: boolean }, sql: Sql = this.db): Promise<RoleRow[]> {
    const all = await this.expandImplied(await this.assignedRoleIds(userId, target, sql), sql);
    return all.filter((r) => r.domain_id === null);
  }

  async catalogRows(): Promise<EndpointRow[]> {
    if (this.catalogCache && Date.now() - this.catalogCache.at < 5000) return this.catalogCache.rows;
    const rows = await this.db.q<EndpointRow>(
      `SELECT s.id AS service_id, s.type, s.extra->>'name' AS service_name, e.id, e.interface, e.region_id, e.url
       FROM identity.service s JOIN identity.endpoint e ON e.service_id = s.id
       WHERE s.enabled AND e.enabled ORDER BY s.type, e.interface`,
    );
    this.catalogCache = { at: Date.now(), rows };
    return rows;
  }

  /** The catalog as Keystone renders it in a token, `%(project_id)s` substituted. */
  async catalog(projectId?: string): Promise<Json[]> {
    const rows = await this.catalogRows();
    const byService = new Map<string, Json & { endpoints: Json[] }>();
    for (const r of rows) {
      let url = r.url;
      if (/[%$]\((project_id|tenant_id)\)s?/.test(url)) {
        if (!projectId) continue;
        url = url.replace(/%\((project_id|tenant_id)\)s/g, projectId).replace(/\$\((project_id|tenant_id)\)s/g, projectId);
      }
      let svc = byService.get(r.service_id);
      if (!svc) {
        svc = { id: r.service_id, type: r.type, name: r.service_name ?? '', endpoints: [] };
        byService.set(r.service_id, svc);
      }
      svc.endpoints.push({ id: r.id, interface: r.interface, region: r.region_id, region_id: r.region_id, url });
    }
    return [...byService.values()].filter((s) => s.endpoints.length > 0);
  }
}
