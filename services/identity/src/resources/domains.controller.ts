import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Directory, type DomainRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { domainJson } from '../common/render.js';
import { bool, description, extraOf, name, newId, queryBool, queryStr, str, wrapped } from '../common/validate.js';
import { Db, type Sql } from '../db/db.service.js';
import { Revocations, persistRevocations } from '../revocation/revocations.js';
import { tagsOf } from './projects.controller.js';

const KNOWN = ['id', 'name', 'description', 'enabled', 'tags', 'options', 'links', 'explicit_domain_id'];

export async function createDomain(sql: Sql, body: Record<string, unknown>, id?: string): Promise<DomainRow> {
  const n = name(body, 'name', 64)!;
  const explicit = str(body, 'explicit_domain_id', { max: 64 });
  const row = await sql.one<DomainRow>(
    `INSERT INTO identity.domain (id, name, description, enabled, tags, extra) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [id ?? explicit ?? newId(), n, description(body) ?? '', bool(body, 'enabled') ?? true, tagsOf(body) ?? [], JSON.stringify(extraOf(body, [...KNOWN, 'is_domain', 'parent_id', 'domain_id']))],
  );
  return row!;
}

/** Deletes a (disabled) domain and everything in it; returns the revocations to announce. */
export async function deleteDomain(sql: Sql, d: DomainRow, revs: Revocations): Promise<void> {
  if (d.enabled) throw ApiError.forbidden('Cannot delete a domain that is enabled, please disable it first.');
  if (d.id === 'default') throw ApiError.forbidden('The default domain cannot be deleted.');
  await sql.q(
    `DELETE FROM identity.assignment WHERE (target_type = 'domain' AND target_id = $1)
       OR (target_type = 'project' AND target_id IN (SELECT id FROM identity.project WHERE domain_id = $1))
       OR (actor_type = 'user' AND actor_id IN (SELECT id FROM identity.users WHERE domain_id = $1))
       OR (actor_type = 'group' AND actor_id IN (SELECT id FROM identity.groups WHERE domain_id = $1))`,
    [d.id],
  );
  await sql.q(`DELETE FROM identity.document WHERE kind = 'domain_config' AND id = $1`, [d.id]);
  await sql.q(`UPDATE identity.project SET parent_id = NULL WHERE domain_id = $1`, [d.id]);
  await sql.q(`DELETE FROM identity.domain WHERE id = $1`, [d.id]);
  await persistRevocations(sql, [revs.subject('domainId', d.id)]);
}

/** PATCH of a domain (through /v3/domains or /v3/projects for an is_domain project). */
export async function updateDomain(sql: Sql, dir: Directory, revs: Revocations, id: string, d: Record<string, unknown>): Promise<{ row: DomainRow; disabled: boolean }> {
  const cur = await dir.domain(id, sql);
  if (d.id !== undefined && d.id !== id) throw ApiError.badRequest('Cannot change the id of a domain.');
  const n = name(d, 'name', 64, false);
  const en = bool(d, 'enabled');
  const desc = description(d);
  const tags = tagsOf(d);
  const disabled = cur.enabled && en === false;
  const r = await sql.one<DomainRow>(
    `UPDATE identity.domain SET name = coalesce($2, name), enabled = coalesce($3, enabled), description = CASE WHEN $4::boolean THEN $5 ELSE description END, tags = coalesce($6, tags), extra = extra || $7::jsonb WHERE id = $1 RETURNING *`,
    [id, n ?? null, en ?? null, desc !== undefined, desc ?? null, tags ?? null, JSON.stringify(extraOf(d, [...KNOWN, 'is_domain', 'parent_id', 'domain_id']))],
  );
  if (disabled) await persistRevocations(sql, [revs.subject('domainId', id)]);
  return { row: r!, disabled };
}

@Controller('v3/domains')
export class DomainsController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
    private readonly revocations: Revocations,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_domains', auth);
    const where: string[] = [];
    const params: unknown[] = [];
    const n = queryStr(q.name);
    if (n !== undefined) where.push(`name = $${params.push(n)}`);
    const en = queryBool(q.enabled);
    if (en !== undefined) where.push(`enabled = $${params.push(en)}`);
    const rows = await this.db.q<DomainRow>(`SELECT * FROM identity.domain ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
    const base = v3Base(req);
    return { domains: rows.map((d) => domainJson(d, base)), links: listLinks(req) };
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_domain', auth);
    const d = wrapped(body, 'domain');
    const row = await this.db.tx((sql) => createDomain(sql, d));
    return { domain: domainJson(row, v3Base(req)) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_domain', auth, { domain_id: id });
    return { domain: domainJson(await this.dir.domain(id), v3Base(req)) };
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_domain', auth, { domain_id: id });
    const d = wrapped(body, 'domain');
    const { row, disabled } = await this.db.tx((sql) => updateDomain(sql, this.dir, this.revocations, id, d));
    if (disabled) await this.revocations.announce([this.revocations.subject('domainId', id)]);
    return { domain: domainJson(row, v3Base(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_domain', auth, { domain_id: id });
    await this.db.tx(async (sql) => deleteDomain(sql, await this.dir.domain(id, sql), this.revocations));
    await this.revocations.announce([this.revocations.subject('domainId', id)]);
  }
}
