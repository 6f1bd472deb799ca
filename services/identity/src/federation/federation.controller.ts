import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService, Public } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { TokensService } from '../auth/tokens.service.js';
import { listLinks, v3Base } from '../common/http.js';
import { bool, invalid, isPlausibleId, type Json, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';
import { Federation } from './federation.service.js';
import { MappingError, validateRules } from './mapping.js';

const P = 'OS-FEDERATION';

/** Identity providers, their protocols, mappings, and the federated login endpoint. */
@Controller(`v3/${P}`)
export class FederationController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    private readonly federation: Federation,
    private readonly tokens: TokensService,
  ) {}

  private async get(kind: string, id: string, label: string): Promise<Json> {
    const r = id.length <= 255 ? await this.db.one<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = $1 AND id = $2`, [kind, id]) : undefined;
    if (!r) throw ApiError.notFound(`Could not find ${label}: ${id}.`);
    return r.body;
  }

  private put(kind: string, id: string, body: Json, owner: string | null = null) {
    return this.db.q(`INSERT INTO identity.document (kind, id, owner, body) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, id) DO UPDATE SET body = EXCLUDED.body`, [kind, id, owner, JSON.stringify(body)]);
  }

  // --- identity providers ------------------------------------------------------------------

  private idpJson(i: Json, base: string): Json {
    return { ...i, links: { self: `${base}/${P}/identity_providers/${i.id as string}`, protocols: `${base}/${P}/identity_providers/${i.id as string}/protocols` } };
  }

  private idpFields(b: Json): Json {
    const out: Json = {};
    const en = bool(b, 'enabled');
    if (en !== undefined) out.enabled = en;
    const d = str(b, 'description', { max: 65535, nullable: true, multiline: true });
    if (d !== undefined) out.description = d;
    if (b.remote_ids !== undefined) {
      if (!Array.isArray(b.remote_ids) || b.remote_ids.some((r) => typeof r !== 'string' || r.length > 1024)) throw invalid('remote_ids', 'expected a list of issuer URLs');
      out.remote_ids = b.remote_ids;
    }
    for (const k of ['domain_id', 'client_id', 'realm_public_key']) {
      const v = str(b, k, { max: 8192, nullable: true });
      if (v !== undefined) out[k] = v;
    }
    return out;
  }

  @Get('identity_providers')
  async listIdps(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('identity:list_identity_providers', auth);
    const rows = await this.db.q<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'idp' ORDER BY id`);
    const base = v3Base(req);
    return { identity_providers: rows.map((r) => this.idpJson(r.body, base)), links: listLinks(req) };
  }

  @Put('identity_providers/:id')
  @HttpCode(201)
  async createIdp(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:create_identity_provider', auth);
    if (!isPlausibleId(id) || id.length > 64) throw invalid('id', 'bad identity provider id');
    const b = wrapped(body, 'identity_provider');
    if (await this.db.one(`SELECT 1 FROM identity.document WHERE kind = 'idp' AND id = $1`, [id])) throw ApiError.conflict(`Duplicate identity provider ${id}.`);
    const doc: Json = { id, enabled: true, description: null, remote_ids: [], domain_id: 'default', ...this.idpFields(b) };
    if (!(await this.db.one(`SELECT 1 FROM identity.domain WHERE id = $1`, [doc.domain_id]))) throw ApiError.badRequest(`Could not find domain: ${String(doc.domain_id)}.`);
    await this.put('idp', id, doc);
    return { identity_provider: this.idpJson(doc, v3Base(req)) };
  }

  @Get('identity_providers/:id')
  async showIdp(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_identity_provider', auth);
    return { identity_provider: this.idpJson(await this.get('idp', id, 'identity provider'), v3Base(req)) };
  }

  @Patch('identity_providers/:id')
  async updateIdp(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_identity_provider', auth);
    const doc = { ...(await this.get('idp', id, 'identity provider')), ...this.idpFields(wrapped(body, 'identity_provider')) };
    await this.put('idp', id, doc);
    return { identity_provider: this.idpJson(doc, v3Base(req)) };
  }

  @Delete('identity_providers/:id')
  @HttpCode(204)
  async deleteIdp(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_identity_provider', auth);
    await this.get('idp', id, 'identity provider');
    await this.db.tx(async (sql) => {
      await sql.q(`DELETE FROM identity.document WHERE (kind = 'idp' AND id = $1) OR (kind = 'protocol' AND owner = $1)`, [id]);
      await sql.q(`DELETE FROM identity.assignment WHERE actor_type = 'user' AND actor_id IN (SELECT id FROM identity.users WHERE idp_id = $1)`, [id]);
      await sql.q(`DELETE FROM identity.users WHERE idp_id = $1`, [id]);
    });
  }

  // --- protocols ------------------------------------------------------------------------------

  private protocolJson(p: Json, base: string): Json {
    return { id: p.id, mapping_id: p.mapping_id, links: { self: `${base}/${P}/identity_providers/${p.idp_id as string}/protocols/${p.id as string}`, identity_provider: `${base}/${P}/identity_providers/${p.idp_id as string}` } };
  }

  @Get('identity_providers/:idp/protocols')
  async listProtocols(@Auth() auth: AuthContext, @Req() req: Request, @Param('idp') idp: string) {
    this.policy.enforce('identity:list_protocols', auth);
    await this.get('idp', idp, 'identity provider');
    const rows = await this.db.q<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'protocol' AND owner = $1 ORDER BY id`, [idp]);
    const base = v3Base(req);
    return { protocols: rows.map((r) => this.protocolJson(r.body, base)), links: listLinks(req) };
  }

  private async protocolBody(body: unknown): Promise<string> {
    const b = wrapped(body, 'protocol');
    const mappingId = str(b, 'mapping_id', { required: true, max: 255 });
    await this.get('mapping', mappingId, 'mapping').catch(() => {
      throw ApiError.badRequest(`Could not find mapping: ${mappingId}.`);
    });
    return mappingId;
  }

  @Put('identity_providers/:idp/protocols/:id')
  @HttpCode(201)
  async createProtocol(@Auth() auth: AuthContext, @Req() req: Request, @Param('idp') idp: string, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:create_protocol', auth);
    await this.get('idp', idp, 'identity provider');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw invalid('protocol_id', 'expected 1..64 letters, digits, _ or -');
    const doc = { id, idp_id: idp, mapping_id: await this.protocolBody(body) };
    if (await this.db.one(`SELECT 1 FROM identity.document WHERE kind = 'protocol' AND id = $1`, [`${idp}/${id}`])) throw ApiError.conflict(`Duplicate protocol ${id}.`);
    await this.put('protocol', `${idp}/${id}`, doc, idp);
    return { protocol: this.protocolJson(doc, v3Base(req)) };
  }

  @Get('identity_providers/:idp/protocols/:id')
  async showProtocol(@Auth() auth: AuthContext, @Req() req: Request, @Param('idp') idp: string, @Param('id') id: string) {
    this.policy.enforce('identity:get_protocol', auth);
    return { protocol: this.protocolJson(await this.get('protocol', `${idp}/${id}`, 'protocol'), v3Base(req)) };
  }

  @Patch('identity_providers/:idp/protocols/:id')
  async updateProtocol(@Auth() auth: AuthContext, @Req() req: Request, @Param('idp') idp: string, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_protocol', auth);
    const doc = { ...(await this.get('protocol', `${idp}/${id}`, 'protocol')), mapping_id: await this.protocolBody(body) };
    await this.put('protocol', `${idp}/${id}`, doc, idp);
    return { protocol: this.protocolJson(doc, v3Base(req)) };
  }

  @Delete('identity_providers/:idp/protocols/:id')
  @HttpCode(204)
  async deleteProtocol(@Auth() auth: AuthContext, @Param('idp') idp: string, @Param('id') id: string) {
    this.policy.enforce('identity:delete_protocol', auth);
    await this.get('protocol', `${idp}/${id}`, 'protocol');
    await this.db.q(`DELETE FROM identity.document WHERE kind = 'protocol' AND id = $1`, [`${idp}/${id}`]);
  }

  // --- mappings -------------------------------------------------------------------------------

  private mappingJson(m: Json, base: string): Json {
    return { id: m.id, rules: m.rules, schema_version: m.schema_version ?? '1.0', links: { self: `${base}/${P}/mappings/${m.id as string}` } };
  }

  private rules(body: unknown): unknown {
    const m = wrapped(body, 'mapping');
    try {
      validateRules(m.rules);
    } catch (err) {
      if (err instanceof MappingError) throw invalid('rules', err.message);
      throw err;
    }
    return m.rules;
  }

  @Get('mappings')
  async listMappings(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('identity:list_mappings', auth);
    const rows = await this.db.q<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'mapping' ORDER BY id`);
    const base = v3Base(req);
    return { mappings: rows.map((r) => this.mappingJson(r.body, base)), links: listLinks(req) };
  }

  @Put('mappings/:id')
  @HttpCode(201)
  async createMapping(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:create_mapping', auth);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw invalid('mapping_id', 'expected 1..64 letters, digits, ., _ or -');
    const doc = { id, rules: this.rules(body) };
    if (await this.db.one(`SELECT 1 FROM identity.document WHERE kind = 'mapping' AND id = $1`, [id])) throw ApiError.conflict(`Duplicate mapping ${id}.`);
    await this.put('mapping', id, doc);
    return { mapping: this.mappingJson(doc, v3Base(req)) };
  }

  @Get('mappings/:id')
  async showMapping(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_mapping', auth);
    return { mapping: this.mappingJson(await this.get('mapping', id, 'mapping'), v3Base(req)) };
  }

  @Patch('mappings/:id')
  async updateMapping(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_mapping', auth);
    await this.get('mapping', id, 'mapping');
    const doc = { id, rules: this.rules(body) };
    await this.put('mapping', id, doc);
    return { mapping: this.mappingJson(doc, v3Base(req)) };
  }

  @Delete('mappings/:id')
  @HttpCode(204)
  async deleteMapping(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_mapping', auth);
    await this.get('mapping', id, 'mapping');
    const used = await this.db.one(`SELECT 1 FROM identity.document WHERE kind = 'protocol' AND body->>'mapping_id' = $1`, [id]);
    if (used) throw ApiError.conflict(`Mapping ${id} is used by a protocol.`);
    await this.db.q(`DELETE FROM identity.document WHERE kind = 'mapping' AND id = $1`, [id]);
  }

  // --- login ------------------------------------------------------------------------------------

  /**
   * Keystone's federated login: the bearer access token from the identity provider in the
   * Authorization header (Keystone behind mod_auth_openidc would see the same token) → an
   * unscoped Kumo token; rescope it with method `token`.
   */
  @Public()
  @Post('identity_providers/:idp/protocols/:protocol/auth')
  @HttpCode(201)
  async login(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param('idp') idp: string, @Param('protocol') protocol: string) {
    return this.loginGet(req, res, idp, protocol);
  }

  @Public()
  @Get('identity_providers/:idp/protocols/:protocol/auth')
  @HttpCode(201)
  async loginGet(@Req() req: Request, @Res({ passthrough: true }) res: Response, @Param('idp') idp: string, @Param('protocol') protocol: string) {
    const header = req.get('authorization') ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m || m[1]!.length > 16384) throw ApiError.unauthorized('The request you have made requires authentication. Send the identity provider access token as "Authorization: Bearer <token>".');
    const subject = await this.federation.authenticate(idp, protocol, m[1]!, req);
    const issued = await this.tokens.issueFor(subject, undefined, req);
    res.setHeader('X-Subject-Token', issued.token);
    return issued.body;
  }
}
