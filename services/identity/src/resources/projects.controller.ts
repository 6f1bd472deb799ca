import { Body, Controller, Delete, Get, Head, HttpCode, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Directory, type DomainRow, type ProjectRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { domainAsProjectJson, domainJson, projectJson } from '../common/render.js';
import { bool, description, extraOf, invalid, type Json, name, newId, queryBool, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';
import { Revocations, persistRevocations } from '../revocation/revocations.js';
import { createDomain, deleteDomain, updateDomain } from './domains.controller.js';

const KNOWN = ['id', 'name', 'description', 'enabled', 'domain_id', 'parent_id', 'is_domain', 'tags', 'options', 'links'];
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const TAG_RE = /^[^,/\u0000-\u001f]{1,255}$/;

export function tagsOf(o: Json): string[] | undefined {
  const v = o.tags;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 80 || v.some((t) => typeof t !== 'string' || !TAG_RE.test(t))) throw invalid('tags', 'expected at most 80 strings of 1..255 characters without "," or "/"');
  return [...new Set(v as string[])];
}

function checkTag(tag: string): string {
  if (!TAG_RE.test(tag)) throw ApiError.badRequest(`Invalid project tag: ${tag.slice(0, 64)}`);
  return tag;
}

@Controller('v3/projects')
export class ProjectsController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
    private readonly revocations: Revocations,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_projects', auth, { domain_id: queryStr(q.domain_id) ?? '' });
    const base = v3Base(req);
    if (queryBool(q.is_domain) === true) {
      const doms = await this.db.q<DomainRow>(`SELECT * FROM identity.domain ORDER BY name`);
      return { projects: doms.filter((d) => q.name === undefined || d.name === q.name).map((d) => domainAsProjectJson(d, base)), links: listLinks(req) };
    }
    const where: string[] = [];
    const params: unknown[] = [];
    const eq = (col: string, v: unknown) => {
      const s = queryStr(v);
      if (s !== undefined) where.push(`${col} = $${params.push(s)}`);
    };
    eq('name', q.name);
    eq('domain_id', q.domain_id);
    const en = queryBool(q.enabled);
    if (en !== undefined) where.push(`enabled = $${params.push(en)}`);
    const parent = queryStr(q.parent_id);
    if (parent !== undefined) where.push(`coalesce(parent_id, domain_id) = $${params.push(parent)}`);
    const tagList = (v: unknown) => (queryStr(v) ?? '').split(',').filter(Boolean);
    if (q.tags !== undefined) where.push(`tags @> $${params.push(tagList(q.tags))}::text[]`);
    if (q['tags-any'] !== undefined) where.push(`tags && $${params.push(tagList(q['tags-any']))}::text[]`);
    if (q['not-tags'] !== undefined) where.push(`NOT (tags @> $${params.push(tagList(q['not-tags']))}::text[])`);
    if (q['not-tags-any'] !== undefined) where.push(`NOT (tags && $${params.push(tagList(q['not-tags-any']))}::text[])`);
    const rows = await this.db.q<ProjectRow>(`SELECT * FROM identity.project ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
    return { projects: rows.map((p) => projectJson(p, base)), links: listLinks(req) };
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const p = wrapped(body, 'project');
    const base = v3Base(req);
    if (bool(p, 'is_domain') === true) {
      this.policy.enforce('identity:create_domain', auth);
      const d = await this.db.tx((sql) => createDomain(sql, p));
      return { project: domainAsProjectJson(d, base) };
    }
    const n = name(p, 'name', 64)!;
    const parentId = str(p, 'parent_id', { max: 64, nullable: true });
    let domainId = str(p, 'domain_id', { max: 64, nullable: true }) ?? undefined;
    const row = await this.db.tx(async (sql) => {
      let parent: ProjectRow | undefined;
      if (parentId) {
        parent = await sql.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [parentId]);
        if (!parent) {
          const asDomain = await sql.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [parentId]);
          if (!asDomain) throw ApiError.notFound(`Could not find project: ${parentId}.`);
          if (domainId && domainId !== asDomain.id) throw ApiError.badRequest('The parent is a different domain than domain_id.');
          domainId = asDomain.id;
        } else {
          if (domainId && domainId !== parent.domain_id) throw ApiError.badRequest('Cannot create a child project in a different domain than its parent.');
          domainId = parent.domain_id;
        }
      }
      domainId ??= auth.projectDomainId ?? auth.domainId ?? 'default';
      this.policy.enforce('identity:create_project', auth, { domain_id: domainId });
      const domain = await sql.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [domainId]);
      if (!domain) throw ApiError.notFound(`Could not find domain: ${domainId}.`);
      return (await sql.one<ProjectRow>(
        `INSERT INTO identity.project (id, name, domain_id, parent_id, description, enabled, tags, extra) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [newId(), n, domainId, parent?.id ?? null, description(p) ?? '', bool(p, 'enabled') ?? true, tagsOf(p) ?? [], JSON.stringify(extraOf(p, KNOWN))],
      ))!;
    });
    return { project: projectJson(row, base) };
  }

  private async getOrDomain(id: string): Promise<ProjectRow | DomainRow & { is_domain: true }> {
    const p = await this.db.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [id]);
    if (p) return p;
    const d = await this.db.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [id]).catch(() => undefined);
    if (d) return { ...d, is_domain: true };
    throw ApiError.notFound(`Could not find project: ${id}.`);
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Query() q: Record<string, unknown>) {
    const base = v3Base(req);
    const found = await this.dir.project(id).catch(async (err) => {
      const d = await this.db.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [id]).catch(() => undefined);
      if (!d) throw err;
      return { ...d, is_domain: true as const };
    });
    if ('is_domain' in found) {
      this.policy.enforce('identity:get_domain', auth, { domain_id: id });
      return { project: domainAsProjectJson(found, base) };
    }
    this.policy.enforce('identity:get_project', auth, { project_id: id, domain_id: found.domain_id });
    const out = projectJson(found, base);
    if (q.parents_as_ids !== undefined || q.parents_as_list !== undefined) {
      const anc = await this.dir.ancestors(id);
      if (q.parents_as_list !== undefined) out.parents = anc.map((a) => ({ project: projectJson(a, base) }));
      else out.parents = anc.reduceRight<Json | null>((acc, a) => ({ [a.id]: acc }), null);
    }
    if (q.subtree_as_ids !== undefined || q.subtree_as_list !== undefined) {
      const desc = await this.dir.descendants(id);
      if (q.subtree_as_list !== undefined) out.subtree = desc.map((d) => ({ project: projectJson(d, base) }));
      else {
        const build = (pid: string): Json | null => {
          const kids = desc.filter((d) => d.parent_id === pid);
          return kids.length ? Object.fromEntries(kids.map((k) => [k.id, build(k.id)])) : null;
        };
        out.subtree = build(id);
      }
    }
    return { project: out };
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const p = wrapped(body, 'project');
    const cur = await this.getOrDomain(id);
    if ('is_domain' in cur) {
      this.policy.enforce('identity:update_domain', auth, { domain_id: id });
      const { row, disabled } = await this.db.tx((sql) => updateDomain(sql, this.dir, this.revocations, id, p));
      if (disabled) await this.revocations.announce([this.revocations.subject('domainId', id)]);
      return { project: domainAsProjectJson(row, v3Base(req)) };
    }
    this.policy.enforce('identity:update_project', auth, { project_id: id, domain_id: cur.domain_id });
    if (p.domain_id !== undefined && p.domain_id !== cur.domain_id) throw ApiError.badRequest('Cannot change the domain of a project.');
    if (p.parent_id !== undefined && p.parent_id !== (cur.parent_id ?? cur.domain_id)) throw ApiError.forbidden('Cannot change the parent of a project.');
    if (p.is_domain !== undefined && p.is_domain !== false) throw ApiError.badRequest('Cannot change is_domain of a project.');
    const n = name(p, 'name', 64, false);
    const en = bool(p, 'enabled');
    const desc = description(p);
    const tags = tagsOf(p);
    const disabled = cur.enabled && en === false;
    const row = await this.db.tx(async (sql) => {
      const r = await sql.one<ProjectRow>(
        `UPDATE identity.project SET name = coalesce($2, name), enabled = coalesce($3, enabled), description = CASE WHEN $4::boolean THEN $5 ELSE description END, tags = coalesce($6, tags), extra = extra || $7::jsonb WHERE id = $1 RETURNING *`,
        [id, n ?? null, en ?? null, desc !== undefined, desc ?? null, tags ?? null, JSON.stringify(extraOf(p, KNOWN))],
      );
      if (disabled) await persistRevocations(sql, [this.revocations.subject('projectId', id)]);
      return r!;
    });
    if (disabled) await this.revocations.announce([this.revocations.subject('projectId', id)]);
    return { project: projectJson(row, v3Base(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    const cur = await this.getOrDomain(id);
    if ('is_domain' in cur) {
      this.policy.enforce('identity:delete_domain', auth, { domain_id: id });
      await this.db.tx((sql) => deleteDomain(sql, cur, this.revocations));
      await this.revocations.announce([this.revocations.subject('domainId', id)]);
      return;
    }
    this.policy.enforce('identity:delete_project', auth, { project_id: id, domain_id: cur.domain_id });
    await this.db.tx(async (sql) => {
      const child = await sql.one(`SELECT id FROM identity.project WHERE parent_id = $1 LIMIT 1`, [id]);
      if (child) throw ApiError.forbidden(`Cannot delete project ${id}: it has child projects.`);
      await sql.q(`DELETE FROM identity.assignment WHERE target_type = 'project' AND target_id = $1`, [id]);
      await sql.q(`UPDATE identity.users SET default_project_id = NULL WHERE default_project_id = $1`, [id]);
      await sql.q(`DELETE FROM identity.project WHERE id = $1`, [id]);
      await persistRevocations(sql, [this.revocations.subject('projectId', id)]);
    });
    await this.revocations.announce([this.revocations.subject('projectId', id)]);
  }

  // --- project tags -----------------------------------------------------------------------

  private async tagged(auth: AuthContext, id: string, write: boolean): Promise<ProjectRow> {
    const p = await this.dir.project(id);
    this.policy.enforce(write ? 'identity:update_project_tags' : 'identity:get_project_tag', auth, { project_id: id, domain_id: p.domain_id });
    return p;
  }

  @Get(':id/tags')
  async tags(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { tags: (await this.tagged(auth, id, false)).tags };
  }

  @Put(':id/tags')
  async setTags(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    await this.tagged(auth, id, true);
    const tags = tagsOf((body ?? {}) as Json) ?? [];
    const row = await this.db.one<ProjectRow>(`UPDATE identity.project SET tags = $2 WHERE id = $1 RETURNING *`, [id, tags]);
    return { ...projectJson(row!, v3Base(req)), tags: row!.tags };
  }

  @Delete(':id/tags')
  @HttpCode(204)
  async clearTags(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.tagged(auth, id, true);
    await this.db.q(`UPDATE identity.project SET tags = '{}' WHERE id = $1`, [id]);
  }

  @Head(':id/tags/:tag')
  @HttpCode(204)
  async hasTag(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    return this.hasTagGet(auth, id, tag);
  }

  @Get(':id/tags/:tag')
  @HttpCode(204)
  async hasTagGet(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    const p = await this.tagged(auth, id, false);
    if (!p.tags.includes(tag)) throw ApiError.notFound(`Tag ${tag} not found for project ${id}.`);
  }

  @Put(':id/tags/:tag')
  @HttpCode(201)
  async addTag(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    const p = await this.tagged(auth, id, true);
    checkTag(tag);
    if (!p.tags.includes(tag)) {
      if (p.tags.length >= 80) throw ApiError.badRequest('A project has at most 80 tags.');
      await this.db.q(`UPDATE identity.project SET tags = array_append(tags, $2) WHERE id = $1`, [id, tag]);
    }
    return undefined;
  }

  @Delete(':id/tags/:tag')
  @HttpCode(204)
  async removeTag(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    const p = await this.tagged(auth, id, true);
    if (!p.tags.includes(tag)) throw ApiError.notFound(`Tag ${tag} not found for project ${id}.`);
    await this.db.q(`UPDATE identity.project SET tags = array_remove(tags, $2) WHERE id = $1`, [id, tag]);
  }
}

export { domainJson };
