import { Body, Controller, Get, Param, Put, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { bodyOf, invalid } from '../common/nova.js';
import { atLeast } from '../versions/microversion.js';
import { INJECTED_FILE_QUOTAS, limitField, QUOTA_DEFAULTS, QuotaService } from './quota.service.js';

/** Below microversion 2.50 Nova leaves these out of quota class responses (bug 1693168), though it accepts them. */
const HIDDEN_BELOW_2_50 = ['server_groups', 'server_group_members'];
/** From 2.50 the network quotas are gone from quota classes: not shown, and refused in an update. */
const NETWORK_QUOTAS = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups', 'networks'];

/** The quotas a request at this version may not set (2.50: network; 2.57: file injection). */
function goneAt(req: Request): string[] {
  return [...(atLeast(req, 50) ? NETWORK_QUOTAS : []), ...(atLeast(req, 57) ? INJECTED_FILE_QUOTAS : [])];
}

function shown(limits: Record<string, number>, req: Request): Record<string, number> {
  const hidden = atLeast(req, 50) ? goneAt(req) : HIDDEN_BELOW_2_50;
  return Object.fromEntries(Object.entries(limits).filter(([k]) => !hidden.includes(k)));
}

/**
 * os-quota-class-sets (admin only, as in Nova). `PUT /os-quota-class-sets/default` changes the
 * default quotas of every project that has no limit of its own; the quota checks read them
 * (QuotaService.limits). Other class names are stored and shown but not applied, as in Nova.
 */
@Controller('v2.1/os-quota-class-sets')
export class QuotaClassesController {
  constructor(
    private readonly quotas: QuotaService,
    private readonly policy: PolicyService,
  ) {}

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    this.policy.enforce('quota_class_sets:show', auth);
    return { quota_class_set: { id, ...shown(await this.quotas.classLimits(id), req) } };
  }

  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    this.policy.enforce('quota_class_sets:update', auth);
    if (id.length < 1 || id.length > 255) throw ApiError.badRequest(`quota_class_name has a length of ${id.length}; it must be between 1 and 255 characters.`);
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const extra = Object.keys(body).filter((k) => k !== 'quota_class_set');
      if (extra.length) throw ApiError.badRequest(`Invalid input for request body: Additional properties are not allowed ('${extra[0]}' was unexpected)`);
    }
    const b = bodyOf(body, 'quota_class_set');
    const values: Record<string, number> = {};
    for (const k of Object.keys(b)) {
      if (!(k in QUOTA_DEFAULTS) || goneAt(req).includes(k)) throw invalid('quota_class_set', b, `Additional properties are not allowed ('${k}' was unexpected)`);
      values[k] = limitField(b, k);
    }
    await this.quotas.setClass(id, values);
    // Nova's update answer has no `id` (Tempest's update_quota_class_set schema forbids it).
    return { quota_class_set: shown(await this.quotas.classLimits(id), req) };
  }
}
