import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { bodyOf, linksOf, nextLink, pageOf } from '../common/nova.js';
import { flavorView, FlavorsService } from './flavors.service.js';
import { atLeast, microversionOf, requireVersion } from '../versions/microversion.js';

@Controller('v2.1/flavors')
export class FlavorsController {
  constructor(private readonly flavors: FlavorsService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const base = requestBaseUrl(req);
    const { limit, marker } = pageOf(q);
    const rows = await this.flavors.list(auth, q, limit, marker);
    const out: Record<string, unknown> = { flavors: rows.map((f) => ({ id: f.id, name: f.name, links: linksOf(base, 'flavors', f.id), ...(atLeast(req, 55) ? { description: f.description } : {}) })) };
    if (q.limit !== undefined && rows.length === limit && limit > 0) out.flavors_links = nextLink(base, 'flavors', q, rows[rows.length - 1]!.id);
    return out;
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const base = requestBaseUrl(req);
    const { limit, marker } = pageOf(q);
    const rows = await this.flavors.list(auth, q, limit, marker);
    const out: Record<string, unknown> = { flavors: rows.map((f) => flavorView(f, base, microversionOf(req))) };
    if (q.limit !== undefined && rows.length === limit && limit > 0) out.flavors_links = nextLink(base, 'flavors/detail', q, rows[rows.length - 1]!.id);
    return out;
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    return { flavor: flavorView(await this.flavors.get(auth, id), requestBaseUrl(req), microversionOf(req)) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request) {
    return { flavor: flavorView(await this.flavors.create(auth, body, microversionOf(req)), requestBaseUrl(req), microversionOf(req)) };
  }

  /** 2.55: the description is the one field of a flavor that can change (404 below, as Nova). */
  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    requireVersion(req, 55);
    return { flavor: flavorView(await this.flavors.updateDescription(auth, id, body), requestBaseUrl(req), microversionOf(req)) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.flavors.delete(auth, id);
  }

  @Get(':id/os-extra_specs')
  async extraSpecs(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { extra_specs: (await this.flavors.get(auth, id)).extra_specs };
  }

  @Post(':id/os-extra_specs')
  @HttpCode(200)
  async setExtraSpecs(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    return { extra_specs: await this.flavors.setExtraSpecs(auth, id, bodyOf(body, 'extra_specs')) };
  }

  @Get(':id/os-extra_specs/:key')
  async extraSpec(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string) {
    const specs = (await this.flavors.get(auth, id)).extra_specs;
    if (!(key in specs)) throw ApiError.notFound(`Flavor ${id} has no extra specs with key ${key}.`);
    return { [key]: specs[key] };
  }

  @Put(':id/os-extra_specs/:key')
  async putExtraSpec(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string, @Body() body: unknown) {
    const b = (body ?? {}) as Record<string, unknown>;
    const keys = Object.keys(b);
    if (keys.length !== 1 || keys[0] !== key) throw ApiError.badRequest('Request body and URI mismatch');
    return await this.flavors.setExtraSpecs(auth, id, b);
  }

  @Delete(':id/os-extra_specs/:key')
  @HttpCode(200)
  async deleteExtraSpec(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string) {
    await this.flavors.deleteExtraSpec(auth, id, key);
  }

  @Get(':id/os-flavor-access')
  async access(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { flavor_access: await this.flavors.access(auth, id) };
  }

  @Post(':id/action')
  @HttpCode(200)
  async action(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    return { flavor_access: await this.flavors.changeAccess(auth, id, body, microversionOf(req)) };
  }
}
