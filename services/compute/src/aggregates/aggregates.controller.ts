import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import { bodyOf, invalid, type Json } from '../common/nova.js';
import { AggregatesService } from './aggregates.service.js';
import { microversionOf } from '../versions/microversion.js';

const METADATA_KEY = /^[a-zA-Z0-9-_:. ]{1,255}$/;

/** Nova's `name` parameter type: 1..255 characters, not only whitespace (Nova strips it). */
function nameOf(o: Json, field: string, opts: { required?: boolean; nullable?: boolean } = {}): string | null | undefined {
  const v = o[field];
  if (v === undefined) {
    if (opts.required) throw ApiError.badRequest(`Invalid input for field/attribute ${field}. '${field}' is a required property`);
    return undefined;
  }
  if (v === null && opts.nullable) return null;
  if (typeof v !== 'string') throw invalid(field, v, `${JSON.stringify(v)} is not of type 'string'`);
  const s = v.trim();
  if (s.length < 1) throw invalid(field, v, `'${v}' is too short`);
  if (v.length > 255) throw invalid(field, v, `'${v}' is too long`);
  return s;
}

function onlyKeys(o: Json, keys: string[], where: string): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k))
      throw ApiError.badRequest(`Invalid input for field/attribute ${where}. Additional properties are not allowed ('${k}' was unexpected)`);
}

/**
 * os-aggregates (admin only, Nova's policy defaults): list, create, show, update, delete and the
 * actions add_host, remove_host, set_metadata. Nova answers 200 (not 201/204) everywhere here,
 * kept for its clients. Status codes per action follow Nova's API (see AggregatesService).
 */
@Controller('v2.1/os-aggregates')
export class AggregatesController {
  constructor(
    private readonly aggregates: AggregatesService,
    private readonly policy: PolicyService,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request) {
    this.policy.enforce('os_compute_api:os-aggregates:index', auth);
    return { aggregates: (await this.aggregates.list()).map((a) => this.aggregates.view(a, true, microversionOf(req))) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request) {
    this.policy.enforce('os_compute_api:os-aggregates:create', auth);
    onlyKeys((body ?? {}) as Json, ['aggregate'], 'request body');
    const b = bodyOf(body, 'aggregate');
    onlyKeys(b, ['name', 'availability_zone'], 'aggregate');
    const name = nameOf(b, 'name', { required: true })!;
    const zone = nameOf(b, 'availability_zone', { nullable: true }) ?? null;
    // Create answers without hosts and metadata (Nova deletes them from the view).
    return { aggregate: this.aggregates.view(await this.aggregates.create(name, zone), false, microversionOf(req)) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    this.policy.enforce('os_compute_api:os-aggregates:show', auth);
    return { aggregate: this.aggregates.view(await this.aggregates.get(id), true, microversionOf(req)) };
  }

  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    this.policy.enforce('os_compute_api:os-aggregates:update', auth);
    onlyKeys((body ?? {}) as Json, ['aggregate'], 'request body');
    const b = bodyOf(body, 'aggregate');
    onlyKeys(b, ['name', 'availability_zone'], 'aggregate');
    if (b.name === undefined && b.availability_zone === undefined)
      throw invalid('aggregate', b, `${JSON.stringify(b)} is not valid under any of the given schemas`);
    const name = nameOf(b, 'name') ?? undefined;
    const zone = nameOf(b, 'availability_zone', { nullable: true });
    return { aggregate: this.aggregates.view(await this.aggregates.update(id, name, zone), true, microversionOf(req)) };
  }

  @Delete(':id')
  @HttpCode(200)
  async delete(@Auth() auth: AuthContext, @Param('id') id: string) {
    this.policy.enforce('os_compute_api:os-aggregates:delete', auth);
    await this.aggregates.delete(id);
  }

  @Post(':id/action')
  @HttpCode(200)
  async action(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const b = (body ?? {}) as Json;
    const [action, ...rest] = Object.keys(b);
    if (!action || rest.length) throw ApiError.badRequest('There is either no action or more than one action in the request body.');
    if (!['add_host', 'remove_host', 'set_metadata'].includes(action)) throw ApiError.badRequest(`There is no such action: ${action}`);
    this.policy.enforce(`os_compute_api:os-aggregates:${action}`, auth);
    const args = bodyOf(b, action);
    if (action === 'set_metadata') {
      onlyKeys(args, ['metadata'], action);
      const m = args.metadata;
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw invalid('metadata', m, `${JSON.stringify(m ?? null)} is not of type 'object'`);
      const changes: Record<string, string | null> = {};
      for (const [k, v] of Object.entries(m as Json)) {
        if (!METADATA_KEY.test(k)) throw invalid('metadata', m, `Additional properties are not allowed ('${k}' was unexpected)`);
        if (v !== null && typeof v !== 'string') throw invalid(`metadata.${k}`, v, `${JSON.stringify(v)} is not of type 'string', 'null'`);
        if (typeof v === 'string' && v.length > 255) throw invalid(`metadata.${k}`, v, `'${v}' is too long`);
        changes[k] = v as string | null;
      }
      return { aggregate: this.aggregates.view(await this.aggregates.setMetadata(id, changes), true, microversionOf(req)) };
    }
    onlyKeys(args, ['host'], action);
    const host = nameOf(args, 'host', { required: true })!;
    const a = action === 'add_host' ? await this.aggregates.addHost(id, host) : await this.aggregates.removeHost(id, host);
    return { aggregate: this.aggregates.view(a, true, microversionOf(req)) };
  }
}
