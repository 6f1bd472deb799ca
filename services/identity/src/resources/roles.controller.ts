import { Body, Controller, Delete, Get, Head, HttpCode, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Audit } from '../audit/audit.js';
import { reqId } from '../auth/tokens.service.js';
import { Directory, type RoleRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { roleJson, roleRef } from '../common/render.js';
import { description, extraOf, type Json, name, newId, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';

const KNOWN = ['id', 'name', 'domain_id', 'description', 'options', 'links'];

@Controller('v3')
export class RolesController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
  ) {}

  @Get('roles')
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_roles', auth);
    const where: string[] = [];
    const params: unknown[] = [];
    const n = queryStr(q.name);
    if (n !== undefined) where.push(`name = $${params.push(n)}`);
    const d = queryStr(q.domain_id);
    where.push(d !== undefined ? `domain_id = $${params.push(d)}` : 'domain_id IS NULL');
    const rows = await this.db.q<RoleRow>(`SELECT * FROM identity.role WHERE ${where.join(' AND ')} ORDER BY name`, params);
    const base = v3Base(req);
    return { roles: rows.map((r) => roleJson(r, base)), links: listLinks(req) };
  }

  @Post('roles')
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_role', auth);
    const r = wrapped(body, 'role');
    const n = name(r, 'name', 255)!;
    const domainId = str(r, 'domain_id', { max: 64, nullable: true });
    const options = r.options === undefined ? {} : r.options;
    if (!options || typeof options !== 'object' || Array.isArray(options)) throw ApiError.badRequest(`Invalid input for field 'options': expected an object.`);
    const row = await this.db.tx(async (sql) => {
      if (domainId) await this.dir.domain(domainId, sql);
      return (await sql.one<RoleRow>(`INSERT INTO identity.role (id, name, domain_id, description, options, extra) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`, [
        newId(),
        n,
        domainId ?? null,
        description(r) ?? null,
        JSON.stringify(options),
        JSON.stringify(extraOf(r, KNOWN)),
      ]))!;
    });
    this.dir.invalidateCatalog();
    return { role: roleJson(row, v3Base(req)) };
  }

  @Get('roles/:id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_role', auth);
    return { role: roleJson(await this.dir.role(id), v3Base(req)) };
  }

  @Patch('roles/:id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_role', auth);
    const r = wrapped(body, 'role');
    const cur = await this.dir.role(id);
    if (r.domain_id !== undefined && r.domain_id !== cur.domain_id) throw ApiError.badRequest('Cannot change the domain of a role.');
    const n = name(r, 'name', 255, false);
    const desc = description(r);
    const row = await this.db.one<RoleRow>(
      `UPDATE identity.role SET name = coalesce($2, name), description = CASE WHEN $3::boolean THEN $4 ELSE description END, options = coalesce($5, options), extra = extra || $6::jsonb WHERE id = $1 RETURNING *`,
      [id, n ?? null, desc !== undefined, desc ?? null, r.options && typeof r.options === 'object' ? JSON.stringify(r.options) : null, JSON.stringify(extraOf(r, KNOWN))],
    );
    return { role: roleJson(row!, v3Base(req)) };
  }

  @Delete('roles/:id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_role', auth);
    const r = await this.dir.role(id);
    if (r.options?.immutable === true) throw ApiError.forbidden(`Role ${id} is immutable.`);
    await this.db.q(`DELETE FROM identity.role WHERE id = $1`, [id]);
  }

  // --- implied roles --------------------------------------------------------------------------

  private inference(prior: RoleRow, implied: RoleRow, base: string) {
    return { prior_role: roleRef(prior, base), implies: roleRef(implied, base) };
  }

  @Put('roles/:prior/implies/:implied')
  @HttpCode(201)
  async imply(@Auth() auth: AuthContext, @Req() req: Request, @Param('prior') priorId: string, @Param('implied') impliedId: string) {
    this.policy.enforce('identity:create_implied_role', auth);
    const [prior, implied] = [await this.dir.role(priorId), await this.dir.role(impliedId)];
    if (prior.id === implied.id) throw ApiError.badRequest('A role cannot imply itself.');
    if (implied.domain_id && !prior.domain_id) throw ApiError.forbidden('A global role cannot imply a domain-specific role.');
    const loops = await this.db.one(
      `WITH RECURSIVE r(id) AS (SELECT $1::varchar UNION SELECT i.implied_role_id FROM identity.implied_role i JOIN r ON i.prior_role_id = r.id) SELECT 1 FROM r WHERE id = $2`,
      [implied.id, prior.id],
    );
    if (loops) throw ApiError.badRequest(`Role ${implied.id} already implies ${prior.id}: that would make a loop.`);
    await this.db.q(`INSERT INTO identity.implied_role (prior_role_id, implied_role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [prior.id, implied.id]);
    return { role_inference: this.inference(prior, implied, v3Base(req)), links: { self: `${v3Base(req)}/roles/${prior.id}/implies/${implied.id}` } };
  }

  private async implication(priorId: string, impliedId: string) {
    const [prior, implied] = [await this.dir.role(priorId), await this.dir.role(impliedId)];
    if (!(await this.db.one(`SELECT 1 FROM identity.implied_role WHERE prior_role_id = $1 AND implied_role_id = $2`, [prior.id, implied.id]))) {
      throw ApiError.notFound(`${prior.id} does not imply ${implied.id}.`);
    }
    return [prior, implied] as const;
  }

  @Head('roles/:prior/implies/:implied')
  @HttpCode(204)
  async checkImplied(@Auth() auth: AuthContext, @Param('prior') priorId: string, @Param('implied') impliedId: string) {
    this.policy.enforce('identity:check_implied_role', auth);
    await this.implication(priorId, impliedId);
  }

  @Get('roles/:prior/implies/:implied')
  async getImplied(@Auth() auth: AuthContext, @Req() req: Request, @Param('prior') priorId: string, @Param('implied') impliedId: string) {
    this.policy.enforce('identity:get_implied_role', auth);
    const [prior, implied] = await this.implication(priorId, impliedId);
    return { role_inference: this.inference(prior, implied, v3Base(req)), links: { self: `${v3Base(req)}/roles/${prior.id}/implies/${implied.id}` } };
  }

  @Delete('roles/:prior/implies/:implied')
  @HttpCode(204)
  async unimply(@Auth() auth: AuthContext, @Param('prior') priorId: string, @Param('implied') impliedId: string) {
    this.policy.enforce('identity:delete_implied_role', auth);
    await this.implication(priorId, impliedId);
    await this.db.q(`DELETE FROM identity.implied_role WHERE prior_role_id = $1 AND implied_role_id = $2`, [priorId, impliedId]);
  }

  @Get('roles/:prior/implies')
  async listImplied(@Auth() auth: AuthContext, @Req() req: Request, @Param('prior') priorId: string) {
    this.policy.enforce('identity:list_implied_roles', auth);
    const prior = await this.dir.role(priorId);
    const implied = await this.db.q<RoleRow>(`SELECT r.* FROM identity.role r JOIN identity.implied_role i ON i.implied_role_id = r.id WHERE i.prior_role_id = $1 ORDER BY r.name`, [prior.id]);
    const base = v3Base(req);
    return { role_inference: { prior_role: roleRef(prior, base), implies: implied.map((r) => roleRef(r, base)) }, links: { self: `${base}/roles/${prior.id}/implies` } };
  }

  @Get('role_inferences')
  async inferences(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('identity:list_role_inference_rules', auth);
    const rows = await this.db.q<{ prior_role_id: string; implied_role_id: string }>(`SELECT * FROM identity.implied_role`);
    const roles = new Map((await this.db.q<RoleRow>(`SELECT * FROM identity.role`)).map((r) => [r.id, r]));
    const base = v3Base(req);
    const byPrior = new Map<string, Json[]>();
    for (const r of rows) {
      const list = byPrior.get(r.prior_role_id) ?? [];
      list.push(roleRef(roles.get(r.implied_role_id)!, base));
      byPrior.set(r.prior_role_id, list);
    }
    return { role_inferences: [...byPrior].map(([prior, implies]) => ({ prior_role: roleRef(roles.get(prior)!, base), implies })), links: { self: `${base}/role_inferences` } };
  }
}

// --- grants (role assignments by path) -----------------------------------------------------------

interface GrantPath {
  targetType: 'project' | 'domain' | 'system';
  targetId: string;
  actorType: 'user' | 'group';
  actorId: string;
  roleId?: string;
  inherited: boolean;
}

/** Reads /v3/{projects|domains}/{t}/{users|groups}/{a}/roles[/{r}], /v3/system/..., /v3/OS-INHERIT/... */
function parseGrantPath(path: string): GrantPath {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  let i = seg[0] === 'v3' ? 1 : 0;
  let inherited = false;
  if (seg[i] === 'OS-INHERIT') {
    inherited = true;
    i++;
  }
  let targetType: GrantPath['targetType'];
  let targetId = 'all';
  if (seg[i] === 'system') {
    targetType = 'system';
    i++;
  } else {
    targetType = seg[i] === 'projects' ? 'project' : 'domain';
    targetId = seg[i + 1]!;
    i += 2;
  }
  const actorType = seg[i] === 'users' ? 'user' : 'group';
  const actorId = seg[i + 1]!;
  const roleId = seg[i + 3] && seg[i + 3] !== 'inherited_to_projects' ? seg[i + 3] : undefined;
  return { targetType, targetId, actorType, actorId, roleId, inherited };
}

const ONE = [
  'projects/:t/users/:a/roles/:r',
  'projects/:t/groups/:a/roles/:r',
  'domains/:t/users/:a/roles/:r',
  'domains/:t/groups/:a/roles/:r',
  'system/users/:a/roles/:r',
  'system/groups/:a/roles/:r',
  'OS-INHERIT/domains/:t/users/:a/roles/:r/inherited_to_projects',
  'OS-INHERIT/domains/:t/groups/:a/roles/:r/inherited_to_projects',
  'OS-INHERIT/projects/:t/users/:a/roles/:r/inherited_to_projects',
  'OS-INHERIT/projects/:t/groups/:a/roles/:r/inherited_to_projects',
];
const LIST = [
  'projects/:t/users/:a/roles',
  'projects/:t/groups/:a/roles',
  'domains/:t/users/:a/roles',
  'domains/:t/groups/:a/roles',
  'system/users/:a/roles',
  'system/groups/:a/roles',
  'OS-INHERIT/domains/:t/users/:a/roles/inherited_to_projects',
  'OS-INHERIT/domains/:t/groups/:a/roles/inherited_to_projects',
  'OS-INHERIT/projects/:t/users/:a/roles/inherited_to_projects',
  'OS-INHERIT/projects/:t/groups/:a/roles/inherited_to_projects',
];

@Controller('v3')
export class GrantsController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
    private readonly audit: Audit,
  ) {}

  private async resolve(auth: AuthContext, req: Request, action: string): Promise<GrantPath & { role?: RoleRow }> {
    const g = parseGrantPath(req.path);
    const suffix = g.targetType === 'system' ? '_system' : '';
    this.policy.enforce(`${action}${suffix}`, auth, { project_id: g.targetType === 'project' ? g.targetId : '', domain_id: g.targetType === 'domain' ? g.targetId : '' });
    if (g.targetType === 'project') await this.dir.project(g.targetId);
    if (g.targetType === 'domain') await this.dir.domain(g.targetId);
    if (g.actorType === 'user') await this.dir.user(g.actorId);
    else await this.dir.group(g.actorId);
    const role = g.roleId ? await this.dir.role(g.roleId) : undefined;
    return { ...g, role };
  }

  private exists(g: GrantPath) {
    return this.db.one(
      `SELECT 1 FROM identity.assignment WHERE actor_type = $1 AND actor_id = $2 AND target_type = $3 AND target_id = $4 AND role_id = $5 AND inherited = $6`,
      [g.actorType, g.actorId, g.targetType, g.targetId, g.roleId, g.inherited],
    );
  }

  @Put(ONE)
  @HttpCode(204)
  async grant(@Auth() auth: AuthContext, @Req() req: Request) {
    const g = await this.resolve(auth, req, 'identity:create_grant');
    if (g.role!.domain_id && g.targetType !== 'system') {
      const domainOfTarget = g.targetType === 'domain' ? g.targetId : (await this.dir.project(g.targetId)).domain_id;
      if (domainOfTarget !== g.role!.domain_id) throw ApiError.forbidden(`Role ${g.role!.id} belongs to another domain.`);
    }
    await this.db.q(
      `INSERT INTO identity.assignment (actor_type, actor_id, target_type, target_id, role_id, inherited) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [g.actorType, g.actorId, g.targetType, g.targetId, g.roleId, g.inherited],
    );
    this.audit.emit({ action: 'role_assignment.created', outcome: 'success', initiator: { userId: auth.userId }, target: { type: `${g.actorType}/${g.targetType}/role`, id: `${g.actorId}/${g.targetId}/${g.roleId}` }, requestId: reqId(req) });
  }

  @Head(ONE)
  @HttpCode(204)
  async checkHead(@Auth() auth: AuthContext, @Req() req: Request) {
    return this.check(auth, req);
  }

  @Get(ONE)
  @HttpCode(204)
  async check(@Auth() auth: AuthContext, @Req() req: Request) {
    const g = await this.resolve(auth, req, 'identity:check_grant');
    if (!(await this.exists(g))) throw ApiError.notFound(`Could not find role assignment with role: ${g.roleId}, ${g.actorType}: ${g.actorId}, ${g.targetType}: ${g.targetId}.`);
  }

  @Delete(ONE)
  @HttpCode(204)
  async revoke(@Auth() auth: AuthContext, @Req() req: Request) {
    const g = await this.resolve(auth, req, 'identity:revoke_grant');
    const gone = await this.db.q(
      `DELETE FROM identity.assignment WHERE actor_type = $1 AND actor_id = $2 AND target_type = $3 AND target_id = $4 AND role_id = $5 AND inherited = $6 RETURNING role_id`,
      [g.actorType, g.actorId, g.targetType, g.targetId, g.roleId, g.inherited],
    );
    if (gone.length === 0) throw ApiError.notFound(`Could not find role assignment with role: ${g.roleId}, ${g.actorType}: ${g.actorId}, ${g.targetType}: ${g.targetId}.`);
    this.audit.emit({ action: 'role_assignment.deleted', outcome: 'success', initiator: { userId: auth.userId }, target: { type: `${g.actorType}/${g.targetType}/role`, id: `${g.actorId}/${g.targetId}/${g.roleId}` }, requestId: reqId(req) });
  }

  @Get(LIST)
  async list(@Auth() auth: AuthContext, @Req() req: Request) {
    const g = await this.resolve(auth, req, 'identity:list_grants');
    const rows = await this.db.q<RoleRow>(
      `SELECT r.* FROM identity.role r JOIN identity.assignment a ON a.role_id = r.id WHERE a.actor_type = $1 AND a.actor_id = $2 AND a.target_type = $3 AND a.target_id = $4 AND a.inherited = $5 ORDER BY r.name`,
      [g.actorType, g.actorId, g.targetType, g.targetId, g.inherited],
    );
    const base = v3Base(req);
    return { roles: rows.map((r) => roleJson(r, base)), links: listLinks(req) };
  }
}

