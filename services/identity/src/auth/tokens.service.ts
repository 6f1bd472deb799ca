import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, KUMO_CONFIG, type KumoTokenClaims, newAuditId, signToken, TokenVerifier, TOKEN_KEYS } from '@kumo/service-kit';
import type { Request } from 'express';
import { Audit } from '../audit/audit.js';
import { type DomainRow, Directory, type ProjectRow, type RoleRow, type UserRow } from '../common/directory.js';
import { type Json, isPlausibleId } from '../common/validate.js';
import type { IdentityConfig } from '../config.js';
import { Db } from '../db/db.service.js';
import type { KeyStore } from '../keys/key-store.js';
import { Federation } from '../federation/federation.service.js';
import { Revocations } from '../revocation/revocations.js';
import { Passwords } from './passwords.js';

const AUTH_FAILED = 'The request you have made requires authentication.';
const METHODS = ['password', 'token', 'application_credential', 'openid'];

/** Keystone's timestamp format: microseconds and a Z. */
export function ksTime(d: Date | number): string {
  const date = typeof d === 'number' ? new Date(d * 1000) : d;
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function obj(v: unknown, path: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw ApiError.badRequest(`Invalid input for field '${path}': expected an object.`);
  return v as Json;
}

function strField(o: Json, key: string, path: string, required = true): string | undefined {
  const v = o[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw ApiError.badRequest(`Invalid input for field '${path}/${key}': expected a non-empty string.`);
  if (v.length > 4096 || v.includes('\u0000')) throw ApiError.badRequest(`Invalid input for field '${path}/${key}': the value is too long or contains NUL.`);
  return v;
}

export interface Subject {
  user: UserRow;
  methods: string[];
  /** fixed scope (application credential) */
  appCred?: { id: string; name: string; projectId: string; roles: string[]; unrestricted: boolean; expiresAt: Date | null };
  /** method `token`: keep the original expiry and chain the audit ids */
  expiresAt?: number;
  auditChain?: string;
  idp?: { id: string; protocol: string; groups: string[] };
}

export interface IssuedToken {
  token: string;
  claims: KumoTokenClaims;
  body: Json;
}

@Injectable()
export class TokensService {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly passwords: Passwords,
    private readonly verifier: TokenVerifier,
    private readonly revocations: Revocations,
    private readonly audit: Audit,
    private readonly federation: Federation,
    @Inject(TOKEN_KEYS) private readonly keys: { store: KeyStore },
    @Inject(KUMO_CONFIG) private readonly config: IdentityConfig,
  ) {}

  /** POST /v3/auth/tokens */
  async issue(body: unknown, req: Request): Promise<IssuedToken> {
    const auth = obj(obj(body, 'body').auth, 'auth');
    const identity = obj(auth.identity, 'auth/identity');
    const methods = identity.methods;
    if (!Array.isArray(methods) || methods.length === 0 || methods.some((m) => typeof m !== 'string')) {
      throw ApiError.badRequest(`Invalid input for field 'identity/methods': expected a non-empty list of strings.`);
    }
    if (methods.some((m) => !METHODS.includes(m as string))) throw ApiError.unauthorized('Attempted to authenticate with an unsupported method.');
    const subject = await this.authenticate(methods as string[], identity, req);
    return this.issueFor(subject, auth.scope, req);
  }

  /** A token for an already authenticated subject (federation's unscoped token uses this too). */
  async issueFor(subject: Subject, rawScope: unknown, req: Request): Promise<IssuedToken> {
    const { user } = subject;
    const domain = await this.dir.domain(user.domain_id);
    if (!user.enabled || !domain.enabled) throw this.fail(req, user, 'user or domain disabled');
    const now = Math.floor(Date.now() / 1000);
    let exp = subject.expiresAt ?? now + this.config.KUMO_TOKEN_TTL_S;
    let scope: { project?: ProjectRow; projectDomain?: DomainRow; domain?: DomainRow; system?: boolean } = {};
    let roles: RoleRow[] = [];

    if (subject.appCred) {
      if (rawScope !== undefined && rawScope !== null) {
        const s = obj(rawScope, 'auth/scope');
        const p = s.project as Json | undefined;
        if (!p || (p.id !== undefined && p.id !== subject.appCred.projectId)) throw ApiError.unauthorized('Application credentials cannot request a scope.');
      }
      const project = await this.dir.project(subject.appCred.projectId);
      const effective = await this.dir.effectiveRoles(user.id, { projectId: project.id });
      const granted = new Set(effective.map((r) => r.id));
      if (!project.enabled || !subject.appCred.roles.every((id) => granted.has(id))) throw this.fail(req, user, 'application credential roles no longer assigned');
      roles = (await this.dir.expandImplied(subject.appCred.roles)).filter((r) => r.domain_id === null && granted.has(r.id));
      scope = { project, projectDomain: await this.dir.domain(project.domain_id) };
      if (subject.appCred.expiresAt) exp = Math.min(exp, Math.floor(subject.appCred.expiresAt.getTime() / 1000));
    } else if (rawScope !== undefined && rawScope !== null) {
      scope = await this.resolveScope(obj(rawScope, 'auth/scope'));
    } else if (user.default_project_id) {
      // Keystone: an unscoped request by a user with a usable default project gets that project.
      const p = await this.db.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [user.default_project_id]);
      if (p && p.enabled && (await this.dir.effectiveRoles(user.id, { projectId: p.id })).length > 0) scope = { project: p, projectDomain: await this.dir.domain(p.domain_id) };
    }

    if (!subject.appCred) {
      if (scope.project) {
        if (!scope.project.enabled || !scope.projectDomain!.enabled) throw this.fail(req, user, 'project or its domain disabled', 401);
        roles = await this.dir.effectiveRoles(user.id, { projectId: scope.project.id });
        if (roles.length === 0) throw ApiError.unauthorized(`User ${user.id} has no access to project ${scope.project.id}.`);
      } else if (scope.domain) {
        if (!scope.domain.enabled) throw this.fail(req, user, 'domain disabled', 401);
        roles = await this.dir.effectiveRoles(user.id, { domainId: scope.domain.id });
        if (roles.length === 0) throw ApiError.unauthorized(`User ${user.id} has no access to domain ${scope.domain.id}.`);
      } else if (scope.system) {
        roles = await this.dir.effectiveRoles(user.id, { system: true });
        if (roles.length === 0) throw ApiError.unauthorized(`User ${user.id} has no access to the system.`);
      }
    }

    const subjects = [`user:${user.id}`, `domain:${user.domain_id}`];
    if (scope.project) subjects.push(`project:${scope.project.id}`, `domain:${scope.project.domain_id}`);
    if (scope.domain) subjects.push(`domain:${scope.domain.id}`);
    if (subject.appCred) subjects.push(`appcred:${subject.appCred.id}`);
    const iat = Math.max(now, this.revocations.minIssuedAt(subjects));
    this.revocations.issued(iat);
    if (exp <= iat) throw ApiError.unauthorized(`${AUTH_FAILED} The token used to authenticate has expired.`);
    const claims: KumoTokenClaims = {
      sub: user.id,
      jti: newAuditId(),
      iat,
      exp,
      ud: user.domain_id,
      m: subject.methods,
      r: roles.map((r) => r.name),
      ...(scope.project ? { p: scope.project.id, pd: scope.project.domain_id } : {}),
      ...(scope.domain ? { d: scope.domain.id } : {}),
      ...(scope.system ? { sys: true as const } : {}),
      ...(subject.appCred ? { ac: subject.appCred.id, acu: subject.appCred.unrestricted } : {}),
      ...(subject.auditChain ? { ach: subject.auditChain } : {}),
      ...(subject.idp ? { idp: subject.idp.id } : {}),
    };
    const { kid, key } = this.keys.store.signingKey();
    const token = await signToken(claims, key, kid, this.config.KUMO_TOKEN_ISSUER);
    if (subject.user.failed_auth_count > 0) await this.db.q(`UPDATE identity.users SET failed_auth_count = 0, failed_auth_at = NULL WHERE id = $1`, [user.id]);
    this.audit.emit({ action: 'authenticate', outcome: 'success', initiator: this.initiator(req, user, subject.methods), target: scope.project ? { type: 'project', id: scope.project.id } : undefined, requestId: reqId(req) });
    const body = await this.render(claims, { user, userDomain: domain, project: scope.project, projectDomain: scope.projectDomain, domain: scope.domain, roles, appCred: subject.appCred, idp: subject.idp });
    return { token, claims, body };
  }

  private initiator(req: Request, user?: UserRow, methods?: string[]) {
    return { userId: user?.id, name: user?.name, domain: user?.domain_id, address: req.ip, method: methods?.join(',') };
  }

  private fail(req: Request, user: UserRow | undefined, reason: string, status = 401): ApiError {
    this.audit.emit({ action: 'authenticate', outcome: 'failure', initiator: this.initiator(req, user), reason, requestId: reqId(req) });
    return new ApiError(status, AUTH_FAILED);
  }

  private async resolveScope(s: Json): Promise<{ project?: ProjectRow; projectDomain?: DomainRow; domain?: DomainRow; system?: boolean }> {
    const keys = Object.keys(s).filter((k) => ['project', 'domain', 'system', 'OS-TRUST:trust'].includes(k));
    if (keys.length !== 1) throw ApiError.badRequest(`Invalid input for field 'auth/scope': specify exactly one of project, domain or system.`);
    if (s['OS-TRUST:trust'] !== undefined) throw ApiError.forbidden('Trusts are not supported by this cloud.');
    if (s.system !== undefined) {
      const sys = obj(s.system, 'auth/scope/system');
      if (sys.all !== true) throw ApiError.badRequest(`Invalid input for field 'auth/scope/system': only {"all": true} is supported.`);
      return { system: true };
    }
    if (s.domain !== undefined) {
      const d = obj(s.domain, 'auth/scope/domain');
      return { domain: await this.findDomain(d, 'auth/scope/domain') };
    }
    const p = obj(s.project, 'auth/scope/project');
    let project: ProjectRow | undefined;
    if (p.id !== undefined) {
      const id = strField(p, 'id', 'auth/scope/project')!;
      project = isPlausibleId(id) ? await this.db.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [id]) : undefined;
    } else {
      const name = strField(p, 'name', 'auth/scope/project')!;
      const domain = await this.findDomain(obj(p.domain, 'auth/scope/project/domain'), 'auth/scope/project/domain');
      project = await this.db.one<ProjectRow>(`SELECT * FROM identity.project WHERE domain_id = $1 AND lower(name) = lower($2)`, [domain.id, name]);
    }
    if (!project) throw ApiError.unauthorized(AUTH_FAILED);
    return { project, projectDomain: await this.dir.domain(project.domain_id) };
  }

  private async findDomain(d: Json, path: string): Promise<DomainRow> {
    let domain: DomainRow | undefined;
    if (d.id !== undefined) {
      const id = strField(d, 'id', path)!;
      domain = isPlausibleId(id) ? await this.db.one<DomainRow>(`SELECT * FROM identity.domain WHERE id = $1`, [id]) : undefined;
    } else domain = await this.dir.domainByName(strField(d, 'name', path)!);
    if (!domain) throw ApiError.unauthorized(AUTH_FAILED);
    return domain;
  }

  /** A user named by id, or by name within a domain named by id or name; undefined when absent. */
  private async findUser(u: Json, path: string): Promise<UserRow | undefined> {
    if (u.id !== undefined) {
      const id = strField(u, 'id', path)!;
      return isPlausibleId(id) ? this.db.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [id]) : undefined;
    }
    const name = strField(u, 'name', path)!;
    const d = obj(u.domain, `${path}/domain`);
    let domainId: string | undefined;
    if (d.id !== undefined) domainId = strField(d, 'id', `${path}/domain`);
    else domainId = (await this.dir.domainByName(strField(d, 'name', `${path}/domain`)!))?.id;
    if (!domainId) return undefined;
    return this.db.one<UserRow>(`SELECT * FROM identity.users WHERE domain_id = $1 AND lower(name) = lower($2)`, [domainId, name]);
  }

  private async authenticate(methods: string[], identity: Json, req: Request): Promise<Subject> {
    const method = methods.includes('application_credential') ? 'application_credential' : methods.includes('openid') ? 'openid' : methods.includes('token') ? 'token' : 'password';
    const payload = obj(identity[method], `identity/${method}`);
    switch (method) {
      case 'password':
        return this.password(payload, req);
      case 'token':
        return this.tokenMethod(payload);
      case 'application_credential':
        return this.appCredential(payload, req);
      default: {
        const idp = strField(payload, 'identity_provider', 'identity/openid')!;
        const protocol = strField(payload, 'protocol', 'identity/openid', false) ?? 'openid';
        const accessToken = strField(payload, 'access_token', 'identity/openid')!;
        return this.federation.authenticate(idp, protocol, accessToken, req);
      }
    }
  }

  private async password(payload: Json, req: Request): Promise<Subject> {
    const u = obj(payload.user, 'identity/password/user');
    const password = u.password;
    if (typeof password !== 'string') throw ApiError.badRequest(`Invalid input for field 'identity/password/user/password': expected a string.`);
    if (password.length > 4096) throw ApiError.badRequest(`Invalid input for field 'identity/password/user/password': the value is too long.`);
    const user = await this.findUser(u, 'identity/password/user');
    if (!user) {
      await this.passwords.burn(password);
      throw this.fail(req, undefined, 'no such user');
    }
    const max = this.config.KUMO_IDENTITY_LOCKOUT_FAILURES;
    const lockedUntil = user.failed_auth_at ? user.failed_auth_at.getTime() + this.config.KUMO_IDENTITY_LOCKOUT_DURATION_S * 1000 : 0;
    if (max > 0 && user.failed_auth_count >= max) {
      if (lockedUntil > Date.now()) {
        await this.passwords.burn(password);
        throw this.fail(req, user, 'account locked');
      }
      user.failed_auth_count = 0;
    }
    if (!(await this.passwords.verify(user.password_hash, password))) {
      const row = await this.db.one<{ failed_auth_count: number }>(
        `UPDATE identity.users SET failed_auth_count = CASE WHEN failed_auth_count >= $2 THEN 1 ELSE failed_auth_count + 1 END, failed_auth_at = now() WHERE id = $1 RETURNING failed_auth_count`,
        [user.id, max > 0 ? max : 2147483647],
      );
      if (max > 0 && row && row.failed_auth_count >= max) {
        this.audit.emit({ action: 'user.locked', outcome: 'success', initiator: this.initiator(req, user), target: { type: 'user', id: user.id }, reason: `${max} failed logins`, requestId: reqId(req) });
      }
      throw this.fail(req, user, 'wrong password');
    }
    return { user, methods: ['password'] };
  }

  private async tokenMethod(payload: Json): Promise<Subject> {
    const id = strField(payload, 'id', 'identity/token')!;
    const ctx = await this.verifier.verify(id);
    const user = await this.db.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [ctx.userId]);
    if (!user) throw ApiError.unauthorized(AUTH_FAILED);
    if (ctx.appCredId) throw ApiError.forbidden('A token created with an application credential cannot be rescoped.');
    const methods = ctx.methods.includes('token') ? ctx.methods : ['token', ...ctx.methods];
    return { user, methods, expiresAt: Math.floor(ctx.expiresAt.getTime() / 1000), auditChain: ctx.auditIds[ctx.auditIds.length - 1], idp: ctx.identityProvider ? { id: ctx.identityProvider, protocol: 'openid', groups: [] } : undefined };
  }

  private async appCredential(payload: Json, req: Request): Promise<Subject> {
    const secret = strField(payload, 'secret', 'identity/application_credential')!;
    let row: Json | undefined;
    if (payload.id !== undefined) {
      const id = strField(payload, 'id', 'identity/application_credential')!;
      row = isPlausibleId(id) ? await this.db.one(`SELECT * FROM identity.app_credential WHERE id = $1`, [id]) : undefined;
    } else {
      const name = strField(payload, 'name', 'identity/application_credential')!;
      const owner = await this.findUser(obj(payload.user, 'identity/application_credential/user'), 'identity/application_credential/user');
      row = owner ? await this.db.one(`SELECT * FROM identity.app_credential WHERE user_id = $1 AND name = $2`, [owner.id, name]) : undefined;
    }
    if (!row) {
      await this.passwords.burn(secret);
      throw this.fail(req, undefined, 'no such application credential');
    }
    const user = await this.db.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [row.user_id]);
    if (!(await this.passwords.verify(row.secret_hash as string, secret)) || !user) throw this.fail(req, user, 'wrong application credential secret');
    const expiresAt = row.expires_at as Date | null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw this.fail(req, user, 'application credential expired');
    const roles = (row.roles as { id: string }[]).map((r) => r.id);
    return { user, methods: ['application_credential'], appCred: { id: row.id as string, name: row.name as string, projectId: row.project_id as string, roles, unrestricted: row.unrestricted as boolean, expiresAt } };
  }

  private readonly described = new Map<string, { at: number; body: Json }>();

  /**
   * GET /v3/auth/tokens: the token body for a verified (and not revoked: the caller checked)
   * token. Names and the catalog are re-read from the directory, then kept for 5 s per token, as
   * validators ask about the same token again and again; staleness is limited to renames.
   */
  async describe(ctx: AuthContext, withCatalog = true): Promise<Json> {
    const key = `${ctx.auditId}|${withCatalog}`;
    const hit = this.described.get(key);
    if (hit && Date.now() - hit.at < 5000) return hit.body;
    const body = await this.describeFresh(ctx, withCatalog);
    if (this.described.size >= 10_000) this.described.delete(this.described.keys().next().value!);
    this.described.set(key, { at: Date.now(), body });
    return body;
  }

  private async describeFresh(ctx: AuthContext, withCatalog: boolean): Promise<Json> {
    const user = await this.db.one<UserRow>(`SELECT * FROM identity.users WHERE id = $1`, [ctx.userId]);
    if (!user) throw ApiError.notFound('Could not find token.');
    const userDomain = await this.dir.domain(user.domain_id);
    const project = ctx.projectId ? await this.db.one<ProjectRow>(`SELECT * FROM identity.project WHERE id = $1`, [ctx.projectId]) : undefined;
    if (ctx.projectId && !project) throw ApiError.notFound('Could not find token.');
    const projectDomain = project ? await this.dir.domain(project.domain_id) : undefined;
    const domain = ctx.domainId ? await this.dir.domain(ctx.domainId) : undefined;
    const roles = await this.dir.globalRolesByName(ctx.roles);
    let appCred: Subject['appCred'];
    if (ctx.appCredId) {
      const row = await this.db.one<Json>(`SELECT id, name, unrestricted FROM identity.app_credential WHERE id = $1`, [ctx.appCredId]);
      if (row) appCred = { id: row.id as string, name: row.name as string, projectId: ctx.projectId ?? '', roles: [], unrestricted: row.unrestricted as boolean, expiresAt: null };
    }
    const claims = {
      sub: ctx.userId,
      jti: ctx.auditId,
      iat: Math.floor(ctx.issuedAt.getTime() / 1000),
      exp: Math.floor(ctx.expiresAt.getTime() / 1000),
      ud: ctx.userDomainId,
      m: ctx.methods,
      r: ctx.roles,
      sys: ctx.system ? (true as const) : undefined,
      ach: ctx.auditIds[1],
    } as KumoTokenClaims;
    const idp = ctx.identityProvider ? { id: ctx.identityProvider, protocol: user.protocol_id ?? 'openid', groups: [] } : undefined;
    return this.render(claims, { user, userDomain, project, projectDomain, domain, roles, appCred, idp }, withCatalog);
  }

  private async render(
    claims: KumoTokenClaims,
    x: { user: UserRow; userDomain: DomainRow; project?: ProjectRow; projectDomain?: DomainRow; domain?: DomainRow; roles: RoleRow[]; appCred?: Subject['appCred']; idp?: Subject['idp'] },
    withCatalog = true,
  ): Promise<Json> {
    const token: Json = {
      methods: claims.m,
      user: {
        id: x.user.id,
        name: x.user.name,
        domain: { id: x.userDomain.id, name: x.userDomain.name },
        password_expires_at: null,
        ...(x.idp ? { 'OS-FEDERATION': { identity_provider: { id: x.idp.id }, protocol: { id: x.idp.protocol }, groups: x.idp.groups.map((id) => ({ id })) } } : {}),
      },
      audit_ids: claims.ach ? [claims.jti, claims.ach] : [claims.jti],
      expires_at: ksTime(claims.exp),
      issued_at: ksTime(claims.iat),
    };
    const scoped = Boolean(x.project || x.domain || claims.sys);
    if (x.project) {
      token.project = { id: x.project.id, name: x.project.name, domain: { id: x.projectDomain!.id, name: x.projectDomain!.name } };
      token.is_domain = false;
    }
    if (x.domain) token.domain = { id: x.domain.id, name: x.domain.name };
    if (claims.sys) token.system = { all: true };
    if (scoped) {
      token.roles = x.roles.map((r) => ({ id: r.id, name: r.name }));
      if (withCatalog) token.catalog = await this.dir.catalog(x.project?.id);
    }
    if (x.appCred) token.application_credential = { id: x.appCred.id, name: x.appCred.name, restricted: !x.appCred.unrestricted };
    return { token };
  }
}

export function reqId(req: Request): string | undefined {
  return (req as { id?: string }).id;
}
