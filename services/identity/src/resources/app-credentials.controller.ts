import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Passwords } from '../auth/passwords.js';
import { Directory, type RoleRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { bool, invalid, type Json, name, newId, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';
import { Revocations, persistRevocations } from '../revocation/revocations.js';

const EXPIRES_TEXT = `to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS expires_text`;

interface AppCredRow {
  id: string;
  name: string;
  user_id: string;
  project_id: string;
  description: string | null;
  expires_at: Date | null;
  expires_text: string | null;
  unrestricted: boolean;
  roles: { id: string }[];
  access_rules: Json[];
}

/**
 * Application credentials: a secret bound to one user, one project and a subset of the user's
 * roles there, shown once at creation and stored as an argon2id hash. Logging in with one gives
 * a token for exactly that project and those roles; a restricted one (the default) cannot create
 * further credentials.
 */
@Controller('v3/users/:userId')
export class AppCredentialsController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
    private readonly passwords: Passwords,
    private readonly revocations: Revocations,
  ) {}

  private async json(c: AppCredRow, base: string, roles?: Map<string, RoleRow>): Promise<Json> {
    const byId = roles ?? new Map<string, RoleRow>();
    const ids = c.roles.map((r) => r.id);
    if (!roles && ids.length) for (const r of await this.db.q<RoleRow>(`SELECT * FROM identity.role WHERE id = ANY($1)`, [ids])) byId.set(r.id, r);
    return {
      id: c.id,
      name: c.name,
      description: c.description,
      user_id: c.user_id,
      project_id: c.project_id,
      roles: ids.map((id) => ({ id, name: byId.get(id)?.name, domain_id: byId.get(id)?.domain_id ?? null })),
      expires_at: c.expires_text ? c.expires_text.replace(/\.000000$/, '') : null,
      unrestricted: c.unrestricted,
      access_rules: c.access_rules ?? [],
      links: { self: `${base}/users/${c.user_id}/application_credentials/${c.id}` },
    };
  }

  @Post('application_credentials')
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string, @Body() body: unknown) {
    this.policy.enforce('identity:create_application_credential', auth, { user_id: userId });
    const a = wrapped(body, 'application_credential');
    const n = name(a, 'name', 255)!;
    const desc = str(a, 'description', { max: 65535, nullable: true, multiline: true }) ?? null;
    let secret = str(a, 'secret', { max: 4096, nullable: true });
    const unrestricted = bool(a, 'unrestricted') ?? false;
    if (!auth.projectId) throw ApiError.badRequest('An application credential can only be created with a project-scoped token.');
    if (auth.appCredId && !auth.appCredUnrestricted) throw ApiError.forbidden('A restricted application credential cannot create application credentials.');
    // Kept as the client wrote it (microseconds included; no zone means UTC), as Keystone echoes it.
    let expires: string | null = null;
    if (a.expires_at !== undefined && a.expires_at !== null) {
      const text = typeof a.expires_at === 'string' ? a.expires_at : '';
      const zoned = /(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?(Z|[+-]\d\d:?\d\d)?$/.test(text) || Number.isNaN(Date.parse(zoned))) throw invalid('expires_at', 'expected an ISO 8601 time');
      if (Date.parse(zoned) <= Date.now()) throw invalid('expires_at', 'the time is in the past');
      expires = zoned;
    }
    if (a.access_rules !== undefined && (!Array.isArray(a.access_rules) || a.access_rules.length > 0)) throw ApiError.badRequest('Access rules are not supported by this cloud.');
    // Roles the user holds on the project now (a token may predate a grant); never more than that.
    const tokenRoles = auth.appCredId ? await this.dir.globalRolesByName(auth.roles) : await this.dir.effectiveRoles(auth.userId, { projectId: auth.projectId });
    let roles: RoleRow[] = tokenRoles;
    if (a.roles !== undefined) {
      if (!Array.isArray(a.roles)) throw invalid('roles', 'expected a list of {"id"} or {"name"}');
      roles = [];
      for (const r of a.roles as Json[]) {
        const match = tokenRoles.find((t) => (r && typeof r === 'object' && (r.id === t.id || (r.id === undefined && r.name === t.name))));
        if (!match) throw ApiError.forbidden('An application credential can only carry roles the user has on the project.');
        if (!roles.includes(match)) roles.push(match);
      }
    }
    secret ??= randomBytes(48).toString('base64url');
    const hash = await this.passwords.hash(secret);
    const row = await this.db.one<AppCredRow>(
      `INSERT INTO identity.app_credential (id, name, user_id, project_id, secret_hash, description, expires_at, unrestricted, roles) VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8, $9) RETURNING *, ${EXPIRES_TEXT}`,
      [newId(), n, userId, auth.projectId, hash, desc, expires, unrestricted, JSON.stringify(roles.map((r) => ({ id: r.id })))],
    );
    return { application_credential: { ...(await this.json(row!, v3Base(req), new Map(roles.map((r) => [r.id, r])))), secret } };
  }

  @Get('application_credentials')
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string, @Query('name') nameFilter?: string) {
    this.policy.enforce('identity:list_application_credentials', auth, { user_id: userId });
    await this.dir.user(userId);
    const n = queryStr(nameFilter);
    const rows = await this.db.q<AppCredRow>(`SELECT *, ${EXPIRES_TEXT} FROM identity.app_credential WHERE user_id = $1 ${n !== undefined ? 'AND name = $2' : ''} ORDER BY name`, n !== undefined ? [userId, n] : [userId]);
    const roles = new Map((await this.db.q<RoleRow>(`SELECT * FROM identity.role`)).map((r) => [r.id, r]));
    const base = v3Base(req);
    return { application_credentials: await Promise.all(rows.map((r) => this.json(r, base, roles))), links: listLinks(req) };
  }

  private async one(auth: AuthContext, userId: string, id: string, action: string): Promise<AppCredRow> {
    this.policy.enforce(action, auth, { user_id: userId });
    const row = id.length <= 64 ? await this.db.one<AppCredRow>(`SELECT *, ${EXPIRES_TEXT} FROM identity.app_credential WHERE id = $1 AND user_id = $2`, [id, userId]) : undefined;
    if (!row) throw ApiError.notFound(`Could not find application credential: ${id}.`);
    return row;
  }

  @Get('application_credentials/:id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string, @Param('id') id: string) {
    return { application_credential: await this.json(await this.one(auth, userId, id, 'identity:get_application_credential'), v3Base(req)) };
  }

  @Delete('application_credentials/:id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('userId') userId: string, @Param('id') id: string) {
    await this.one(auth, userId, id, 'identity:delete_application_credential');
    if (auth.appCredId && !auth.appCredUnrestricted && auth.appCredId !== id) throw ApiError.forbidden('A restricted application credential cannot delete other application credentials.');
    const rev = this.revocations.subject('appCredId', id);
    await this.db.tx(async (sql) => {
      await sql.q(`DELETE FROM identity.app_credential WHERE id = $1`, [id]);
      await persistRevocations(sql, [rev]);
    });
    await this.revocations.announce([rev]);
  }

  @Get('access_rules')
  async accessRules(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string) {
    this.policy.enforce('identity:list_access_rules', auth, { user_id: userId });
    return { access_rules: [], links: listLinks(req) };
  }
}
