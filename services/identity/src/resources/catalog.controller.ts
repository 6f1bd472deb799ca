import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Directory } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { bool, extraOf, invalid, type Json, isPlausibleId, name, newId, queryBool, queryStr, str, wrapped } from '../common/validate.js';
import { Db, type Sql } from '../db/db.service.js';

const INTERFACES = ['public', 'internal', 'admin'];

function regionJson(r: Json, base: string): Json {
  return { ...(r.extra as Json), id: r.id, description: r.description ?? '', parent_region_id: r.parent_region_id ?? null, links: { self: `${base}/regions/${r.id as string}` } };
}

function serviceJson(s: Json, base: string): Json {
  const extra = s.extra as Json;
  return { ...extra, id: s.id, type: s.type, name: extra.name ?? '', description: extra.description ?? '', enabled: s.enabled, links: { self: `${base}/services/${s.id as string}` } };
}

function endpointJson(e: Json, base: string): Json {
  return { ...(e.extra as Json), id: e.id, interface: e.interface, region: e.region_id, region_id: e.region_id, service_id: e.service_id, url: e.url, enabled: e.enabled, links: { self: `${base}/endpoints/${e.id as string}` } };
}

export async function upsertRegion(sql: Sql, id: string, description: string, parent: string | null): Promise<void> {
  await sql.q(`INSERT INTO identity.region (id, description, parent_region_id) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [id, description, parent]);
}

/** Regions, services and endpoints: what the token catalog is built from. */
@Controller('v3')
export class CatalogController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
  ) {}

  private async region(id: string, sql: Sql = this.db): Promise<Json> {
    const r = isPlausibleId(id) ? await sql.one<Json>(`SELECT * FROM identity.region WHERE id = $1`, [id]) : undefined;
    if (!r) throw ApiError.notFound(`Could not find region: ${id}.`);
    return r;
  }

  @Get('regions')
  async listRegions(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_regions', auth);
    const parent = queryStr(q.parent_region_id);
    const rows = await this.db.q<Json>(`SELECT * FROM identity.region ${parent !== undefined ? 'WHERE parent_region_id = $1' : ''} ORDER BY id`, parent !== undefined ? [parent] : []);
    const base = v3Base(req);
    return { regions: rows.map((r) => regionJson(r, base)), links: listLinks(req) };
  }

  private async createRegion(auth: AuthContext, req: Request, body: unknown, id?: string) {
    this.policy.enforce('identity:create_region', auth);
    const r = wrapped(body, 'region');
    const rid = id ?? str(r, 'id', { max: 255, min: 1 }) ?? newId();
    if (id !== undefined && r.id !== undefined && r.id !== id) throw ApiError.badRequest('The region id in the body does not match the URL.');
    const parent = str(r, 'parent_region_id', { max: 255, nullable: true });
    const desc = str(r, 'description', { max: 65535, nullable: true, multiline: true });
    const row = await this.db.tx(async (sql) => {
      if (parent) await this.region(parent, sql).catch(() => {
        throw ApiError.badRequest(`Could not find parent region: ${parent}.`);
      });
      return sql.one<Json>(`INSERT INTO identity.region (id, description, parent_region_id, extra) VALUES ($1, $2, $3, $4) RETURNING *`, [rid, desc ?? '', parent ?? null, JSON.stringify(extraOf(r, ['id', 'description', 'parent_region_id', 'links']))]);
    });
    return { region: regionJson(row!, v3Base(req)) };
  }

  @Post('regions')
  @HttpCode(201)
  createRegionPost(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return this.createRegion(auth, req, body);
  }

  @Put('regions/:id')
  @HttpCode(201)
  createRegionPut(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    if (!isPlausibleId(id)) throw invalid('id', 'bad region id');
    return this.createRegion(auth, req, body, id);
  }

  @Get('regions/:id')
  async showRegion(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_region', auth);
    return { region: regionJson(await this.region(id), v3Base(req)) };
  }

  @Patch('regions/:id')
  async updateRegion(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_region', auth);
    const r = wrapped(body, 'region');
    await this.region(id);
    const parent = str(r, 'parent_region_id', { max: 255, nullable: true });
    const desc = str(r, 'description', { max: 65535, nullable: true, multiline: true });
    const row = await this.db.tx(async (sql) => {
      if (parent) {
        await this.region(parent, sql).catch(() => {
          throw ApiError.badRequest(`Could not find parent region: ${parent}.`);
        });
        const loop = await sql.one(`WITH RECURSIVE a AS (SELECT id, parent_region_id FROM identity.region WHERE id = $1 UNION ALL SELECT r.id, r.parent_region_id FROM identity.region r JOIN a ON r.id = a.parent_region_id) SELECT 1 FROM a WHERE id = $2`, [parent, id]);
        if (loop) throw ApiError.badRequest('That parent would make a loop of regions.');
      }
      return sql.one<Json>(
        `UPDATE identity.region SET description = CASE WHEN $2::boolean THEN coalesce($3, '') ELSE description END, parent_region_id = CASE WHEN $4::boolean THEN $5 ELSE parent_region_id END, extra = extra || $6::jsonb WHERE id = $1 RETURNING *`,
        [id, desc !== undefined, desc ?? null, parent !== undefined, parent ?? null, JSON.stringify(extraOf(r, ['id', 'description', 'parent_region_id', 'links']))],
      );
    });
    return { region: regionJson(row!, v3Base(req)) };
  }

  @Delete('regions/:id')
  @HttpCode(204)
  async deleteRegion(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_region', auth);
    await this.region(id);
    if (await this.db.one(`SELECT 1 FROM identity.region WHERE parent_region_id = $1`, [id])) throw ApiError.forbidden(`Cannot delete region ${id}: it has child regions.`);
    await this.db.q(`DELETE FROM identity.region WHERE id = $1`, [id]);
    this.dir.invalidateCatalog();
  }

  // --- services ---------------------------------------------------------------------------------

  private async service(id: string): Promise<Json> {
    const s = isPlausibleId(id) ? await this.db.one<Json>(`SELECT * FROM identity.service WHERE id = $1`, [id]) : undefined;
    if (!s) throw ApiError.notFound(`Could not find service: ${id}.`);
    return s;
  }

  @Get('services')
  async listServices(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_services', auth);
    const where: string[] = [];
    const params: unknown[] = [];
    const t = queryStr(q.type);
    if (t !== undefined) where.push(`type = $${params.push(t)}`);
    const n = queryStr(q.name);
    if (n !== undefined) where.push(`extra->>'name' = $${params.push(n)}`);
    const rows = await this.db.q<Json>(`SELECT * FROM identity.service ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY type`, params);
    const base = v3Base(req);
    return { services: rows.map((s) => serviceJson(s, base)), links: listLinks(req) };
  }

  @Post('services')
  @HttpCode(201)
  async createService(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_service', auth);
    const s = wrapped(body, 'service');
    const type = name(s, 'type', 255)!;
    name(s, 'name', 255, false);
    str(s, 'description', { max: 65535, nullable: true, multiline: true });
    const en = bool(s, 'enabled') ?? true;
    const row = await this.db.one<Json>(`INSERT INTO identity.service (id, type, enabled, extra) VALUES ($1, $2, $3, $4) RETURNING *`, [newId(), type, en, JSON.stringify(extraOf(s, ['id', 'type', 'enabled', 'links']))]);
    this.dir.invalidateCatalog();
    return { service: serviceJson(row!, v3Base(req)) };
  }

  @Get('services/:id')
  async showService(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_service', auth);
    return { service: serviceJson(await this.service(id), v3Base(req)) };
  }

  @Patch('services/:id')
  async updateService(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_service', auth);
    const s = wrapped(body, 'service');
    await this.service(id);
    const type = name(s, 'type', 255, false);
    name(s, 'name', 255, false);
    str(s, 'description', { max: 65535, nullable: true, multiline: true });
    const en = bool(s, 'enabled');
    const row = await this.db.one<Json>(`UPDATE identity.service SET type = coalesce($2, type), enabled = coalesce($3, enabled), extra = extra || $4::jsonb WHERE id = $1 RETURNING *`, [
      id,
      type ?? null,
      en ?? null,
      JSON.stringify(extraOf(s, ['id', 'type', 'enabled', 'links'])),
    ]);
    this.dir.invalidateCatalog();
    return { service: serviceJson(row!, v3Base(req)) };
  }

  @Delete('services/:id')
  @HttpCode(204)
  async deleteService(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_service', auth);
    await this.service(id);
    await this.db.q(`DELETE FROM identity.service WHERE id = $1`, [id]);
    this.dir.invalidateCatalog();
  }

  // --- endpoints --------------------------------------------------------------------------------

  private async endpoint(id: string): Promise<Json> {
    const e = isPlausibleId(id) ? await this.db.one<Json>(`SELECT * FROM identity.endpoint WHERE id = $1`, [id]) : undefined;
    if (!e) throw ApiError.notFound(`Could not find endpoint: ${id}.`);
    return e;
  }

  private endpointFields(e: Json, create: boolean) {
    const iface = str(e, 'interface', { required: create, max: 10 });
    if (iface !== undefined && iface !== null && !INTERFACES.includes(iface)) throw invalid('interface', `must be one of ${INTERFACES.join(', ')}`);
    const url = str(e, 'url', { required: create, max: 2048, min: 1 });
    if (typeof url === 'string' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw invalid('url', 'must be an absolute URL');
    const serviceId = str(e, 'service_id', { required: create, max: 64 });
    const region = str(e, 'region_id', { max: 255, nullable: true }) ?? str(e, 'region', { max: 255, nullable: true });
    const enabled = bool(e, 'enabled');
    return { iface, url, serviceId, region, enabled };
  }

  @Get('endpoints')
  async listEndpoints(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_endpoints', auth);
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [k, col] of [['interface', 'interface'], ['service_id', 'service_id'], ['region_id', 'region_id']]) {
      const v = queryStr(q[k!]);
      if (v !== undefined) where.push(`${col} = $${params.push(v)}`);
    }
    const en = queryBool(q.enabled);
    if (en !== undefined) where.push(`enabled = $${params.push(en)}`);
    const rows = await this.db.q<Json>(`SELECT * FROM identity.endpoint ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY service_id, interface`, params);
    const base = v3Base(req);
    return { endpoints: rows.map((e) => endpointJson(e, base)), links: listLinks(req) };
  }

  @Post('endpoints')
  @HttpCode(201)
  async createEndpoint(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    this.policy.enforce('identity:create_endpoint', auth);
    const e = wrapped(body, 'endpoint');
    const f = this.endpointFields(e, true);
    const row = await this.db.tx(async (sql) => {
      if (!(await sql.one(`SELECT 1 FROM identity.service WHERE id = $1`, [f.serviceId]))) throw ApiError.badRequest(`Could not find service: ${f.serviceId}.`);
      if (f.region) await upsertRegion(sql, f.region, '', null);
      return sql.one<Json>(`INSERT INTO identity.endpoint (id, service_id, region_id, interface, url, enabled, extra) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`, [
        newId(),
        f.serviceId,
        f.region ?? null,
        f.iface,
        f.url,
        f.enabled ?? true,
        JSON.stringify(extraOf(e, ['id', 'interface', 'url', 'service_id', 'region_id', 'region', 'enabled', 'links', 'legacy_endpoint_id'])),
      ]);
    });
    this.dir.invalidateCatalog();
    return { endpoint: endpointJson(row!, v3Base(req)) };
  }

  @Get('endpoints/:id')
  async showEndpoint(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    this.policy.enforce('identity:get_endpoint', auth);
    return { endpoint: endpointJson(await this.endpoint(id), v3Base(req)) };
  }

  @Patch('endpoints/:id')
  async updateEndpoint(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    this.policy.enforce('identity:update_endpoint', auth);
    const e = wrapped(body, 'endpoint');
    await this.endpoint(id);
    const f = this.endpointFields(e, false);
    const row = await this.db.tx(async (sql) => {
      if (f.serviceId && !(await sql.one(`SELECT 1 FROM identity.service WHERE id = $1`, [f.serviceId]))) throw ApiError.badRequest(`Could not find service: ${f.serviceId}.`);
      if (f.region) await upsertRegion(sql, f.region, '', null);
      return sql.one<Json>(
        `UPDATE identity.endpoint SET service_id = coalesce($2, service_id), region_id = CASE WHEN $3::boolean THEN $4 ELSE region_id END, interface = coalesce($5, interface), url = coalesce($6, url), enabled = coalesce($7, enabled), extra = extra || $8::jsonb WHERE id = $1 RETURNING *`,
        [id, f.serviceId ?? null, f.region !== undefined, f.region ?? null, f.iface ?? null, f.url ?? null, f.enabled ?? null, JSON.stringify(extraOf(e, ['id', 'interface', 'url', 'service_id', 'region_id', 'region', 'enabled', 'links']))],
      );
    });
    this.dir.invalidateCatalog();
    return { endpoint: endpointJson(row!, v3Base(req)) };
  }

  @Delete('endpoints/:id')
  @HttpCode(204)
  async deleteEndpoint(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('identity:delete_endpoint', auth);
    await this.endpoint(id);
    await this.db.q(`DELETE FROM identity.endpoint WHERE id = $1`, [id]);
    this.dir.invalidateCatalog();
  }
}

