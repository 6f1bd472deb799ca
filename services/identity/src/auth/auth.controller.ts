import { Body, Controller, Delete, Get, Head, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService, Public, TokenVerifier } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { Directory, type DomainRow, type ProjectRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { Db } from '../db/db.service.js';
import { Revocations, persistRevocations } from '../revocation/revocations.js';
import { TokensService } from './tokens.service.js';

/** Keystone's /v3/auth: issue, validate, check and revoke tokens; what the caller may scope to. */
@Controller('v3/auth')
export class AuthController {
  constructor(
    private readonly tokens: TokensService,
    private readonly verifier: TokenVerifier,
    private readonly policy: PolicyService,
    private readonly revocations: Revocations,
    private readonly dir: Directory,
    private readonly db: Db,
  ) {}

  @Public()
  @Post('tokens')
  @HttpCode(201)
  async issue(@Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const issued = await this.tokens.issue(body, req);
    res.setHeader('X-Subject-Token', issued.token);
    return issued.body;
  }

  private async subject(auth: AuthContext, req: Request, action: string): Promise<AuthContext> {
    const token = req.get('x-subject-token');
    if (!token) throw ApiError.badRequest('Missing X-Subject-Token header.');
    let subject: AuthContext;
    try {
      subject = await this.verifier.verify(token);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // Like Keystone: a token that is expired, revoked or forged does not exist, for anybody.
        throw ApiError.notFound(`Could not find token: ${token.slice(0, 16)}… (${err.message.replace(/^The request you have made requires authentication\. /, '')})`);
      }
      throw err;
    }
    this.policy.enforce(action, auth, { user_id: subject.userId });
    return subject;
  }

  @Head('tokens')
  @HttpCode(200)
  async check(@Auth() auth: AuthContext, @Req() req: Request) {
    await this.subject(auth, req, 'identity:check_token');
  }

  @Get('tokens')
  async validate(@Auth() auth: AuthContext, @Req() req: Request, @Res({ passthrough: true }) res: Response, @Query('nocatalog') nocatalog?: string) {
    const subject = await this.subject(auth, req, 'identity:validate_token');
    res.setHeader('X-Subject-Token', subject.token);
    return this.tokens.describe(subject, nocatalog === undefined);
  }

  @Delete('tokens')
  @HttpCode(204)
  async revoke(@Auth() auth: AuthContext, @Req() req: Request) {
    const subject = await this.subject(auth, req, 'identity:revoke_token');
    const entries = [{ auditId: subject.auditId, expiresAt: Math.floor(subject.expiresAt.getTime() / 1000) }];
    await this.db.tx((sql) => persistRevocations(sql, entries));
    await this.revocations.announce(entries);
  }

  @Get('catalog')
  async catalog(@Auth() auth: AuthContext, @Req() req: Request) {
    if (!auth.projectId && !auth.domainId && !auth.system) throw ApiError.forbidden('The service catalog is only available to a scoped token.');
    return { catalog: await this.dir.catalog(auth.projectId), links: { self: `${v3Base(req)}/auth/catalog`, next: null, previous: null } };
  }

  /** Projects the caller has a role on (and may scope to). */
  @Get('projects')
  async projects(@Auth() auth: AuthContext, @Req() req: Request) {
    const rows = await this.db.q<ProjectRow>(
      `SELECT p.* FROM identity.project p JOIN identity.domain d ON d.id = p.domain_id WHERE p.enabled AND d.enabled ORDER BY p.name`,
    );
    const out = [];
    for (const p of rows) if ((await this.dir.assignedRoleIds(auth.userId, { projectId: p.id })).length > 0) out.push(p);
    const base = v3Base(req);
    return { projects: out.map((p) => ({ id: p.id, name: p.name, domain_id: p.domain_id, description: p.description ?? '', enabled: p.enabled, parent_id: p.parent_id ?? p.domain_id, is_domain: false, tags: p.tags, options: {}, links: { self: `${base}/projects/${p.id}` } })), links: listLinks(req) };
  }

  @Get('domains')
  async domains(@Auth() auth: AuthContext, @Req() req: Request) {
    const rows = await this.db.q<DomainRow>(`SELECT * FROM identity.domain WHERE enabled ORDER BY name`);
    const out = [];
    for (const d of rows) if ((await this.dir.assignedRoleIds(auth.userId, { domainId: d.id })).length > 0) out.push(d);
    const base = v3Base(req);
    return { domains: out.map((d) => ({ id: d.id, name: d.name, description: d.description ?? '', enabled: d.enabled, tags: d.tags, options: {}, links: { self: `${base}/domains/${d.id}` } })), links: listLinks(req) };
  }

  @Get('system')
  async system(@Auth() auth: AuthContext, @Req() req: Request) {
    const has = (await this.dir.assignedRoleIds(auth.userId, { system: true })).length > 0;
    return { system: has ? [{ all: true }] : [], links: listLinks(req) };
  }
}
