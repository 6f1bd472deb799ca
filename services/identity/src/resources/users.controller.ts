import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, KUMO_CONFIG, PolicyService, Public } from '@kumo/service-kit';
import type { IdentityConfig } from '../config.js';
import type { Request } from 'express';
import { Audit } from '../audit/audit.js';
import { Passwords } from '../auth/passwords.js';
import { reqId } from '../auth/tokens.service.js';
import { Directory, type ProjectRow, type UserRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { groupJson, projectJson, userJson } from '../common/render.js';
import { bool, extraOf, invalid, type Json, name, newId, queryBool, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';
import { Revocations, persistRevocations } from '../revocation/revocations.js';

const KNOWN = ['id', 'name', 'domain_id', 'enabled', 'password', 'default_project_id', 'options', 'links', 'password_expires_at', 'federated'];

function password(o: Json, field = 'password', required = false): string | null | undefined {
  const v = o[field];
  if (v === undefined) {
    if (required) throw invalid(field, `'${field}' is a required property`);
    return undefined;
  }
  if (v === null && !required) return null;
  if (typeof v !== 'string') throw invalid(field, 'expected a string');
  if (v.length > 4096 || v.includes('\u0000')) throw invalid(field, 'the password is too long or contains NUL');
  return v;
}

@Controller('v3/users')
export class UsersController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
    private readonly passwords: Passwords,
    private readonly revocations: Revocations,
    private readonly audit: Audit,
    @Inject(KUMO_CONFIG) private readonly config: IdentityConfig,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_users', auth, { domain_id: queryStr(q.domain_id) ?? '' });
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [col, key] of [['name', 'name'], ['domain_id', 'domain_id'], ['idp_id', 'idp_id'], ['protocol_id', 'protocol_id'], ['unique_id', 'unique_id']] as const) {
      const s = queryStr(q[key]);
      if (s !== undefined) where.push(`${col} = $${params.push(s)}`);
    }
    const en = queryBool(q.enabled);
    if (en !== undefined) where.push(`enabled = $${params.push(en)}`);
    const rows = await this.db.q<UserRow>(`SELECT * FROM identity.users ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
    const base = v3Base(req);
    return { users: rows.map((u) => userJson(u, base)), links: listLinks(req) };
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const u = wrapped(body, 'user');
    const n = name(u, 'name', 255)!;
    const domainId = str(u, 'domain_id', { max: 64 }) ?? auth.projectDomainId ?? auth.domainId ?? 'default';
    this.policy.enforce('identity:create_user', auth, { domain_id: domainId });
    const pw = password(u);
    const defaultProject = str(u, 'default_project_id', { max: 64, nullable: true });
    const enabled = bool(u, 'enabled') ?? true;
    const extra = extraOf(u, KNOWN);
    const hash = pw ? await this.passwords.hash(pw) : null;
    const row = await this.db.tx(async (sql) => {
      await this.dir.domain(domainId, sql).catch(() => {
        throw ApiError.notFound(`Could not find domain: ${domainId}.`);
      });
      if (defaultProject) {
        const p = await sql.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [defaultProject]);
        if (!p) throw ApiError.badRequest(`Could not find project: ${defaultProject}.`);
      }
      return (await sql.one<UserRow>(
        `INSERT INTO identity.users (id, name, domain_id, enabled, default_project_id, password_hash, password_created_at, extra) VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6::text IS NULL THEN NULL ELSE now() END, $7) RETURNING *`,
        [newId(), n, domainId, enabled, defaultProject ?? null, hash, JSON.stringify(extra)],
      ))!;
    });
    return { user: userJson(row, v3Base(req)) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    const u = await this.visible(auth, id, 'identity:get_user');
    return { user: userJson(u, v3Base(req)) };
  }

  /** 404 before 403 would tell a stranger which ids exist; so policy first, against the id. */
  private async visible(auth: AuthContext, id: string, action: string): Promise<UserRow> {
    this.policy.enforce(action, auth, { user_id: id, domain_id: auth.userId === id ? auth.userDomainId : '' });
    return this.dir.user(id);
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const u = wrapped(body, 'user');
    const cur = await this.visible(auth, id, 'identity:update_user');
    if (u.domain_id !== undefined && u.domain_id !== cur.domain_id) throw ApiError.badRequest('Cannot change the domain of a user.');
    if (u.id !== undefined && u.id !== id) throw ApiError.badRequest('Cannot change the id of a user.');
    const n = name(u, 'name', 255, false);
    const en = bool(u, 'enabled');
    const pw = password(u);
    const defaultProject = str(u, 'default_project_id', { max: 64, nullable: true });
    const hash = pw ? await this.passwords.hash(pw) : undefined;
    const revoke = (cur.enabled && en === false) || hash !== undefined;
    const row = await this.db.tx(async (sql) => {
      if (defaultProject && !(await sql.one(`SELECT id FROM identity.project WHERE id = $1`, [defaultProject]))) throw ApiError.badRequest(`Could not find project: ${defaultProject}.`);
      const r = await sql.one<UserRow>(
        `UPDATE identity.users SET name = coalesce($2, name), enabled = coalesce($3, enabled),
           password_hash = coalesce($4, password_hash), password_created_at = CASE WHEN $4::text IS NULL THEN password_created_at ELSE now() END,
           failed_auth_count = CASE WHEN $4::text IS NULL AND NOT coalesce($3, false) THEN failed_auth_count ELSE 0 END,
           default_project_id = CASE WHEN $5::boolean THEN $6 ELSE default_project_id END, extra = extra || $7::jsonb
         WHERE id = $1 RETURNING *`,
        [id, n ?? null, en ?? null, hash ?? null, defaultProject !== undefined, defaultProject ?? null, JSON.stringify(extraOf(u, KNOWN))],
      );
      if (revoke) await persistRevocations(sql, [this.revocations.subject('userId', id)]);
      return r!;
    });
    if (revoke) await this.revocations.announce([this.revocations.subject('userId', id)]);
    return { user: userJson(row, v3Base(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.visible(auth, id, 'identity:delete_user');
    await this.db.tx(async (sql) => {
      await sql.q(`DELETE FROM identity.assignment WHERE actor_type = 'user' AND actor_id = $1`, [id]);
      await sql.q(`DELETE FROM identity.document WHERE owner = $1`, [id]);
      await sql.q(`DELETE FROM identity.users WHERE id = $1`, [id]);
      await persistRevocations(sql, [this.revocations.subject('userId', id)]);
    });
    await this.revocations.announce([this.revocations.subject('userId', id)]);
  }

  /**
   * Self-service password change. Like Keystone it needs no token (an expired password must be
   * changeable): the original password is the authentication, and it counts towards lockout.
   */
  @Public()
  @Post(':id/password')
  @HttpCode(204)
  async changePassword(@Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const u = wrapped(body, 'user');
    const original = password(u, 'original_password', true)!;
    const next = password(u, 'password', true)!;
    const user = await this.db.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [id]).catch(() => undefined);
    const max = this.config.KUMO_IDENTITY_LOCKOUT_FAILURES;
    const locked = user && max > 0 && user.failed_auth_count >= max && user.failed_auth_at && Date.now() - user.failed_auth_at.getTime() < this.config.KUMO_IDENTITY_LOCKOUT_DURATION_S * 1000;
    const ok = (await this.passwords.verify(user?.password_hash, original)) && user && user.enabled && !locked;
    if (!ok) {
      if (user) await this.db.q(`UPDATE identity.users SET failed_auth_count = failed_auth_count + 1, failed_auth_at = now() WHERE id = $1`, [id]);
      this.audit.emit({ action: 'user.change_password', outcome: 'failure', initiator: { userId: user?.id, address: req.ip }, requestId: reqId(req) });
      throw ApiError.unauthorized('The request you have made requires authentication.');
    }
    const hash = await this.passwords.hash(next);
    await this.db.tx(async (sql) => {
      await sql.q(`UPDATE identity.users SET password_hash = $2, password_created_at = now(), failed_auth_count = 0, failed_auth_at = NULL WHERE id = $1`, [id, hash]);
      await persistRevocations(sql, [this.revocations.subject('userId', id)]);
    });
    await this.revocations.announce([this.revocations.subject('userId', id)]);
    this.audit.emit({ action: 'user.change_password', outcome: 'success', initiator: { userId: id, address: req.ip }, target: { type: 'user', id }, requestId: reqId(req) });
  }

  @Get(':id/projects')
  async projects(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.visible(auth, id, 'identity:list_user_projects');
    const rows = await this.db.q<ProjectRow>(`SELECT * FROM identity.project ORDER BY name`);
    const out: ProjectRow[] = [];
    for (const p of rows) if ((await this.dir.assignedRoleIds(id, { projectId: p.id })).length > 0) out.push(p);
    const base = v3Base(req);
    return { projects: out.map((p) => projectJson(p, base)), links: listLinks(req) };
  }

  @Get(':id/groups')
  async groups(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.visible(auth, id, 'identity:list_groups_for_user');
    const rows = await this.db.q<Json>(`SELECT g.* FROM identity.groups g JOIN identity.group_member m ON m.group_id = g.id WHERE m.user_id = $1 ORDER BY g.name`, [id]);
    const base = v3Base(req);
    return { groups: rows.map((g) => groupJson(g, base)), links: listLinks(req) };
  }
}
