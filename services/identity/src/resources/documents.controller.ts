import { createHash, randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, Head, HttpCode, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Directory } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { extraOf, invalid, type Json, name, newId, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';

/** Small Keystone APIs whose objects are opaque documents: one table (`identity.document`). */
class Documents {
  constructor(private readonly db: Db) {}
  async get(kind: string, id: string, label = kind): Promise<Json & { owner: string | null }> {
    const r = id.length <= 255 ? await this.db.one<{ body: Json; owner: string | null }>(`SELECT body, owner FROM identity.document WHERE kind = $1 AND id = $2`, [kind, id]) : undefined;
    if (!r) throw ApiError.notFound(`Could not find ${label}: ${id}.`);
    return { ...r.body, owner: r.owner };
  }
  async list(kind: string, owner?: string): Promise<Json[]> {
    const rows = await this.db.q<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = $1 ${owner !== undefined ? 'AND owner = $2' : ''} ORDER BY created_at`, owner !== undefined ? [kind, owner] : [kind]);
    return rows.map((r) => r.body);
  }
  async put(kind: string, id: string, body: Json, owner: string | null = null): Promise<void> {
    await this.db.q(`INSERT INTO identity.document (kind, id, owner, body) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, id) DO UPDATE SET body = EXCLUDED.body, owner = EXCLUDED.owner`, [kind, id, owner, JSON.stringify(body)]);
  }
  async remove(kind: string, id: string, label = kind): Promise<void> {
    const gone = await this.db.q(`DELETE FROM identity.document WHERE kind = $1 AND id = $2 RETURNING id`, [kind, id]);
    if (gone.length === 0) throw ApiError.notFound(`Could not find ${label}: ${id}.`);
  }
}

function blob(o: Json, required: boolean): string | undefined {
  const v = o.blob;
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.length > 65535 || v.includes('\u0000')) throw invalid('blob', 'expected a string');
  return v;
}

const DEFAULT_CONFIG: Json = {
  identity: { driver: 'sql', list_limit: null },
  ldap: { url: 'ldap://localhost', user: null, suffix: 'cn=example,cn=com', user_tree_dn: null, group_tree_dn: null, query_scope: 'one', page_size: 0, user_objectclass: 'inetOrgPerson', group_objectclass: 'groupOfNames' },
};
const CONFIG_GROUPS = Object.keys(DEFAULT_CONFIG);

@Controller('v3')
export class DocumentsController {
  private readonly docs: Documents;
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
  ) {
    this.docs = new Documents(db);
  }

  // --- credentials -----------------------------------------------------------------------------

  private credentialJson(c: Json, base: string): Json {
    const { owner: _owner, ...rest } = c;
    return { ...rest, links: { self: `${base}/credentials/${c.id as string}` } };
  }

  @Get('credentials')
  async listCredentials(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    const userId = queryStr(q.user_id);
    const type = queryStr(q.type);
    const admin = this.policy.allows('identity:list_credentials', auth);
    let rows = await this.docs.list('credential', admin ? undefined : auth.userId);
    if (userId) rows = rows.filter((c) => c.user_id === userId);
    if (type) rows = rows.filter((c) => c.type === type);
    const base = v3Base(req);
    return { credentials: rows.map((c) => this.credentialJson(c, base)), links: listLinks(req) };
  }

  @Post('credentials')
  @HttpCode(201)
  async createCredential(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const c = wrapped(body, 'credential');
    const userId = str(c, 'user_id', { required: true, max: 64 });
    this.policy.enforce('identity:create_credential', auth, { user_id: userId });
    const type = name(c, 'type', 255)!;
    const b = blob(c, true)!;
    const projectId = str(c, 'project_id', { max: 64, nullable: true }) ?? null;
    await this.dir.user(userId).catch(() => {
      throw ApiError.badRequest(`Could not find user: ${userId}.`);
    });
    if (projectId) await this.dir.project(projectId);
    let id = newId();
    if (type === 'ec2') {
      let access: unknown;
      try {
        access = (JSON.parse(b) as Json).access;
      } catch {
        throw invalid('blob', 'an ec2 credential blob must be JSON with "access"');
      }
      if (typeof access !== 'string') throw invalid('blob', 'an ec2 credential blob must be JSON with "access"');
      if (!projectId) throw invalid('project_id', 'an ec2 credential needs a project');
      id = createHash('sha256').update(access).digest('hex');
    }
    const doc = { ...extraOf(c, ['id', 'user_id', 'type', 'blob', 'project_id', 'links']), id, user_id: userId, type, blob: b, project_id: projectId };
    if (await this.db.one(`SELECT 1 FROM identity.document WHERE kind = 'credential' AND id = $1`, [id])) throw ApiError.conflict('Conflict occurred attempting to store credential - Duplicate entry.');
    await this.docs.put('credential', id, doc, userId);
    return { credential: this.credentialJson(doc, v3Base(req)) };
  }

  private async credential(auth: AuthContext, id: string, action: string): Promise<Json> {
    const c = await this.docs.get('credential', id, 'credential').catch((err) => {
      this.policy.enforce(action, auth, { user_id: '' });
      throw err;
    });
    this.policy.enforce(action, auth, { user_id: c.user_id });
    return c;
  }

  @Get('credentials/:id')
  async showCredential(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return { credential: this.credentialJson(await this.credential(auth, id, 'identity:get_credential'), v3Base(req)) };
  }

  @Patch('credentials/:id')
  async updateCredential(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const c = wrapped(body, 'credential');
    const cur = await this.credential(auth, id, 'identity:update_credential');
    const b = blob(c, false);
    const projectId = str(c, 'project_id', { max: 64, nullable: true });
    if (projectId) await this.dir.project(projectId);
    const type = name(c, 'type', 255, false);
    if (c.user_id !== undefined && c.user_id !== cur.user_id) throw ApiError.badRequest('Cannot change the owner of a credential.');
    const { owner: _o, ...rest } = cur;
    const doc = { ...rest, ...extraOf(c, ['id', 'user_id', 'type', 'blob', 'project_id', 'links']), ...(b !== undefined ? { blob: b } : {}), ...(projectId !== undefined ? { project_id: projectId } : {}), ...(type ? { type } : {}) };
    await this.docs.put('credential', id, doc, cur.user_id as string);
    return { credential: this.credentialJson(doc, v3Base(req)) };
  }

  @Delete('credentials/:id')
  @HttpCode(204)
  async deleteCredential(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.credential(auth, id, 'identity:delete_credential');
    await this.docs.remove('credential', id, 'credential');
  }

  // --- EC2 credentials (/v3/users/{user}/credentials/OS-EC2) --------------------------------

  private ec2Json(c: Json, base: string): Json {
    const b = JSON.parse(c.blob as string) as Json;
    return { user_id: c.user_id, tenant_id: c.project_id, access: b.access, secret: b.secret, trust_id: b.trust_id ?? null, links: { self: `${base}/users/${c.user_id as string}/credentials/OS-EC2/${b.access as string}` } };
  }

  @Post('users/:userId/credentials/OS-EC2')
  @HttpCode(201)
  async createEc2(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string, @Body() body: unknown) {
    this.policy.enforce('identity:ec2_create_credential', auth, { user_id: userId });
    await this.dir.user(userId);
    const tenant = str((body ?? {}) as Json, 'tenant_id', { required: true, max: 64 });
    await this.dir.project(tenant);
    const access = randomBytes(16).toString('hex');
    const doc = { id: createHash('sha256').update(access).digest('hex'), user_id: userId, type: 'ec2', project_id: tenant, blob: JSON.stringify({ access, secret: randomBytes(16).toString('hex'), trust_id: null }) };
    await this.docs.put('credential', doc.id, doc, userId);
    return { credential: this.ec2Json(doc, v3Base(req)) };
  }

  @Get('users/:userId/credentials/OS-EC2')
  async listEc2(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string) {
    this.policy.enforce('identity:ec2_list_credentials', auth, { user_id: userId });
    await this.dir.user(userId);
    const rows = (await this.docs.list('credential', userId)).filter((c) => c.type === 'ec2');
    const base = v3Base(req);
    return { credentials: rows.map((c) => this.ec2Json(c, base)), links: listLinks(req) };
  }

  private async ec2(auth: AuthContext, userId: string, access: string, action: string): Promise<Json> {
    this.policy.enforce(action, auth, { user_id: userId });
    const c = await this.docs.get('credential', createHash('sha256').update(access).digest('hex'), 'credential');
    if (c.user_id !== userId || c.type !== 'ec2') throw ApiError.notFound(`Could not find credential: ${access}.`);
    return c;
  }

  @Get('users/:userId/credentials/OS-EC2/:access')
  async showEc2(@Auth() auth: AuthContext, @Req() req: Request, @Param('userId') userId: string, @Param('access') access: string) {
    return { credential: this.ec2Json(await this.ec2(auth, userId, access, 'identity:ec2_get_credential'), v3Base(req)) };
  }

  @Delete('users/:userId/credentials/OS-EC2/:access')
  @HttpCode(204)
  async deleteEc2(@Auth() auth: AuthContext, @Param('userId') userId: string, @Param('access') access: string) {
    const c = await this.ec2(auth, userId, access, 'identity:ec2_delete_credential');
    await this.docs.remove('credential', c.id as string, 'credential');
  }

  // --- policies (opaque blobs, as Keystone stores them) -------------------------------------

  private policyJson(p: Json, base: string): Json {
    const { owner: _o, ...rest } = p;
    return { ...rest, links: { self: `${base}/policies/${p.id as string}` } };
  }

  @Get('policies')
  async listPolicies(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_policies', auth);
    const type = queryStr(q.type);
    const rows = (await this.docs.list('policy')).filter((p) => !type || p.type === type);
    const base = v3Base(req);
    return { policies: rows.map((p) => this.policyJson(p, base)), links: listLinks(req) };
  }

  @Post('policies')
  @HttpCode(201)
  async createPolicy(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_policy', auth);
    const p = wrapped(body, 'policy');
    const doc = { ...extraOf(p, ['id', 'blob', 'type', 'links']), id: newId(), blob: blob(p, true), type: name(p, 'type', 255) };
    await this.docs.put('policy', doc.id, doc);
    return { policy: this.policyJson(doc, v3Base(req)) };
  }

  @Get('policies/:id')
  async showPolicy(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_policy', auth);
    return { policy: this.policyJson(await this.docs.get('policy', id), v3Base(req)) };
  }

  @Patch('policies/:id')
  async updatePolicy(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_policy', auth);
    const p = wrapped(body, 'policy');
    const { owner: _o, ...cur } = await this.docs.get('policy', id);
    const b = blob(p, false);
    const type = name(p, 'type', 255, false);
    const doc = { ...cur, ...extraOf(p, ['id', 'blob', 'type', 'links']), ...(b !== undefined ? { blob: b } : {}), ...(type ? { type } : {}) };
    await this.docs.put('policy', id, doc);
    return { policy: this.policyJson(doc, v3Base(req)) };
  }

  @Delete('policies/:id')
  @HttpCode(204)
  async deletePolicy(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_policy', auth);
    await this.docs.remove('policy', id);
  }

  // --- OS-EP-FILTER endpoint groups ----------------------------------------------------------

  private epgJson(g: Json, base: string): Json {
    const { owner: _o, ...rest } = g;
    return { ...rest, links: { self: `${base}/OS-EP-FILTER/endpoint_groups/${g.id as string}` } };
  }

  private filters(g: Json, required: boolean): Json | undefined {
    const f = g.filters;
    if (f === undefined && !required) return undefined;
    if (!f || typeof f !== 'object' || Array.isArray(f)) throw invalid('filters', 'expected an object');
    for (const k of Object.keys(f)) if (!['interface', 'service_id', 'region_id'].includes(k)) throw invalid('filters', `unknown filter ${k}`);
    return f as Json;
  }

  @Get('OS-EP-FILTER/endpoint_groups')
  async listEpg(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('identity:list_endpoint_groups', auth);
    const base = v3Base(req);
    return { endpoint_groups: (await this.docs.list('endpoint_group')).map((g) => this.epgJson(g, base)), links: listLinks(req) };
  }

  @Post('OS-EP-FILTER/endpoint_groups')
  @HttpCode(201)
  async createEpg(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_endpoint_group', auth);
    const g = wrapped(body, 'endpoint_group');
    const doc = { id: newId(), name: name(g, 'name', 255), description: str(g, 'description', { max: 65535, nullable: true, multiline: true }) ?? '', filters: this.filters(g, true) };
    await this.docs.put('endpoint_group', doc.id, doc);
    return { endpoint_group: this.epgJson(doc, v3Base(req)) };
  }

  @Get('OS-EP-FILTER/endpoint_groups/:id')
  async showEpg(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_endpoint_group', auth);
    return { endpoint_group: this.epgJson(await this.docs.get('endpoint_group', id, 'endpoint group'), v3Base(req)) };
  }

  @Head('OS-EP-FILTER/endpoint_groups/:id')
  @HttpCode(200)
  async checkEpg(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:get_endpoint_group', auth);
    await this.docs.get('endpoint_group', id, 'endpoint group');
  }

  @Patch('OS-EP-FILTER/endpoint_groups/:id')
  async updateEpg(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_endpoint_group', auth);
    const g = wrapped(body, 'endpoint_group');
    const { owner: _o, ...cur } = await this.docs.get('endpoint_group', id, 'endpoint group');
    const n = name(g, 'name', 255, false);
    const d = str(g, 'description', { max: 65535, nullable: true, multiline: true });
    const f = this.filters(g, false);
    const doc = { ...cur, ...(n ? { name: n } : {}), ...(d !== undefined ? { description: d ?? '' } : {}), ...(f ? { filters: f } : {}) };
    await this.docs.put('endpoint_group', id, doc);
    return { endpoint_group: this.epgJson(doc, v3Base(req)) };
  }

  @Delete('OS-EP-FILTER/endpoint_groups/:id')
  @HttpCode(204)
  async deleteEpg(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_endpoint_group', auth);
    await this.docs.remove('endpoint_group', id, 'endpoint group');
  }

  // --- OS-OAUTH1 consumers -------------------------------------------------------------------

  private consumerJson(c: Json, base: string, withSecret = false): Json {
    const { owner: _o, secret, ...rest } = c;
    return { ...rest, ...(withSecret ? { secret } : {}), links: { self: `${base}/OS-OAUTH1/consumers/${c.id as string}` } };
  }

  @Get('OS-OAUTH1/consumers')
  async listConsumers(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('identity:list_consumers', auth);
    const base = v3Base(req);
    return { consumers: (await this.docs.list('consumer')).map((c) => this.consumerJson(c, base)), links: listLinks(req) };
  }

  @Post('OS-OAUTH1/consumers')
  @HttpCode(201)
  async createConsumer(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_consumer', auth);
    const c = wrapped(body, 'consumer');
    const doc = { ...extraOf(c, ['id', 'secret', 'description', 'links']), id: newId(), description: str(c, 'description', { max: 65535, nullable: true, multiline: true }) ?? null, secret: randomBytes(24).toString('base64url') };
    await this.docs.put('consumer', doc.id, doc);
    return { consumer: this.consumerJson(doc, v3Base(req), true) };
  }

  @Get('OS-OAUTH1/consumers/:id')
  async showConsumer(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_consumer', auth);
    return { consumer: this.consumerJson(await this.docs.get('consumer', id), v3Base(req)) };
  }

  @Patch('OS-OAUTH1/consumers/:id')
  async updateConsumer(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_consumer', auth);
    const c = wrapped(body, 'consumer');
    if (c.secret !== undefined) throw ApiError.badRequest('The secret of a consumer cannot be changed.');
    const { owner: _o, ...cur } = await this.docs.get('consumer', id);
    const d = str(c, 'description', { max: 65535, nullable: true, multiline: true });
    const doc = { ...cur, ...extraOf(c, ['id', 'secret', 'description', 'links']), ...(d !== undefined ? { description: d } : {}) };
    await this.docs.put('consumer', id, doc);
    return { consumer: this.consumerJson(doc, v3Base(req)) };
  }

  @Delete('OS-OAUTH1/consumers/:id')
  @HttpCode(204)
  async deleteConsumer(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_consumer', auth);
    await this.docs.remove('consumer', id);
  }

  // --- domain-specific configuration ---------------------------------------------------------

  private checkGroups(cfg: Json): Json {
    for (const [g, opts] of Object.entries(cfg)) {
      if (!CONFIG_GROUPS.includes(g)) throw ApiError.forbidden(`Invalid domain specific configuration: group ${g} is not supported.`);
      if (!opts || typeof opts !== 'object' || Array.isArray(opts)) throw ApiError.badRequest(`Invalid domain specific configuration: group ${g} must be an object.`);
    }
    return cfg;
  }

  private async domainConfig(auth: AuthContext, domainId: string, action: string): Promise<Json> {
    this.policy.enforce(action, auth, { domain_id: domainId });
    await this.dir.domain(domainId);
    const { owner: _o, ...cfg } = await this.docs.get('domain_config', domainId, 'domain config');
    return cfg;
  }

  @Get('domains/config/default')
  defaultConfig(@Auth() auth: AuthContext) {
    this.policy.enforce('identity:get_security_compliance_domain_config', auth);
    return { config: DEFAULT_CONFIG };
  }

  @Get('domains/config/:group/default')
  defaultGroup(@Auth() auth: AuthContext, @Param('group') group: string) {
    this.policy.enforce('identity:get_security_compliance_domain_config', auth);
    if (!CONFIG_GROUPS.includes(group)) throw ApiError.notFound(`Could not find config group: ${group}.`);
    return { config: { [group]: DEFAULT_CONFIG[group] } };
  }

  @Get('domains/config/:group/:option/default')
  defaultOption(@Auth() auth: AuthContext, @Param('group') group: string, @Param('option') option: string) {
    this.policy.enforce('identity:get_security_compliance_domain_config', auth);
    const g = DEFAULT_CONFIG[group] as Json | undefined;
    if (!g || !(option in g)) throw ApiError.notFound(`Could not find config option: ${group}/${option}.`);
    return { config: { [option]: g[option] } };
  }

  @Put('domains/:id/config')
  @HttpCode(201)
  async createConfig(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:create_domain_config', auth, { domain_id: id });
    await this.dir.domain(id);
    const cfg = this.checkGroups(wrapped(body, 'config'));
    await this.docs.put('domain_config', id, cfg);
    return { config: cfg };
  }

  @Get('domains/:id/config')
  async showConfig(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { config: await this.domainConfig(auth, id, 'identity:get_domain_config') };
  }

  @Patch('domains/:id/config')
  async updateConfig(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    const cur = await this.domainConfig(auth, id, 'identity:update_domain_config');
    const patch = this.checkGroups(wrapped(body, 'config'));
    const next: Json = { ...cur };
    for (const [g, opts] of Object.entries(patch)) next[g] = { ...((cur[g] as Json) ?? {}), ...(opts as Json) };
    await this.docs.put('domain_config', id, next);
    return { config: next };
  }

  @Delete('domains/:id/config')
  @HttpCode(204)
  async deleteConfig(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.domainConfig(auth, id, 'identity:delete_domain_config');
    await this.docs.remove('domain_config', id, 'domain config');
  }

  @Get('domains/:id/config/:group')
  async showConfigGroup(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string) {
    const cfg = await this.domainConfig(auth, id, 'identity:get_domain_config');
    if (!cfg[group]) throw ApiError.notFound(`Could not find config group: ${group}.`);
    return { config: { [group]: cfg[group] } };
  }

  @Patch('domains/:id/config/:group')
  async updateConfigGroup(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string, @Body() body: unknown) {
    const cfg = await this.domainConfig(auth, id, 'identity:update_domain_config');
    const patch = this.checkGroups(wrapped(body, 'config'));
    if (Object.keys(patch).some((g) => g !== group)) throw ApiError.badRequest(`The body may only change group ${group}.`);
    if (!cfg[group]) throw ApiError.notFound(`Could not find config group: ${group}.`);
    cfg[group] = { ...(cfg[group] as Json), ...((patch[group] as Json) ?? {}) };
    await this.docs.put('domain_config', id, cfg);
    return { config: cfg };
  }

  @Delete('domains/:id/config/:group')
  @HttpCode(204)
  async deleteConfigGroup(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string) {
    const cfg = await this.domainConfig(auth, id, 'identity:delete_domain_config');
    if (!cfg[group]) throw ApiError.notFound(`Could not find config group: ${group}.`);
    delete cfg[group];
    await this.docs.put('domain_config', id, cfg);
  }

  @Get('domains/:id/config/:group/:option')
  async showConfigOption(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string, @Param('option') option: string) {
    const cfg = await this.domainConfig(auth, id, 'identity:get_domain_config');
    const g = cfg[group] as Json | undefined;
    if (!g || !(option in g)) throw ApiError.notFound(`Could not find config option: ${group}/${option}.`);
    return { config: { [option]: g[option] } };
  }

  @Patch('domains/:id/config/:group/:option')
  async updateConfigOption(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string, @Param('option') option: string, @Body() body: unknown) {
    const cfg = await this.domainConfig(auth, id, 'identity:update_domain_config');
    const patch = wrapped(body, 'config');
    const g = cfg[group] as Json | undefined;
    if (!g) throw ApiError.notFound(`Could not find config group: ${group}.`);
    if (!(option in patch)) throw ApiError.badRequest(`The body must set option ${option}.`);
    g[option] = patch[option];
    await this.docs.put('domain_config', id, cfg);
    return { config: cfg };
  }

  @Delete('domains/:id/config/:group/:option')
  @HttpCode(204)
  async deleteConfigOption(@Auth() auth: AuthContext, @Param('id') id: string, @Param('group') group: string, @Param('option') option: string) {
    const cfg = await this.domainConfig(auth, id, 'identity:delete_domain_config');
    const g = cfg[group] as Json | undefined;
    if (!g || !(option in g)) throw ApiError.notFound(`Could not find config option: ${group}/${option}.`);
    delete g[option];
    await this.docs.put('domain_config', id, cfg);
  }
}
