import { Body, Controller, Delete, Get, HttpCode, Param, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { atLeast } from '../versions/microversion.js';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import { bodyOf, isAdmin, invalid } from '../common/nova.js';
import { Db } from '../db/db.js';
import { INJECTED_FILE_QUOTAS, limitField, QUOTA_DEFAULTS, QuotaService } from './quota.service.js';

/** 2.36: the network quotas leave os-quota-sets (they are Neutron's); asking to set them is a 400. */
const NETWORK_QUOTAS = ['floating_ips', 'fixed_ips', 'security_groups', 'security_group_rules', 'networks'];

/** The quotas a request at this version may not see or set. */
function goneAt(req: Request): string[] {
  return [...(atLeast(req, 36) ? NETWORK_QUOTAS : []), ...(atLeast(req, 57) ? INJECTED_FILE_QUOTAS : [])];
}

function withoutGone<T extends Record<string, unknown>>(set: T, req: Request): T {
  const out = { ...set };
  for (const k of goneAt(req)) delete out[k];
  return out;
}

@Controller('v2.1')
export class QuotasController {
  constructor(
    private readonly quotas: QuotaService,
    private readonly policy: PolicyService,
    private readonly db: Db,
  ) {}

  /** Own project, or any for an admin (403 otherwise, as Nova). */
  private checkProject(auth: AuthContext, projectId: string) {
    this.policy.enforce('quotas:show', auth, { project_id: projectId });
    if (!isAdmin(auth) && auth.projectId !== projectId) throw ApiError.forbidden(`Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.`);
  }

  private async inUse(projectId: string, userId: string): Promise<Record<string, number>> {
    const u = await this.quotas.usage(projectId);
    const [k] = await this.db.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('keypair')} WHERE user_id = $1`, [userId]);
    return { instances: u.instances, cores: u.cores, ram: u.ram, server_groups: u.server_groups, key_pairs: Number(k!.n) };
  }

  @Get('os-quota-sets/:project/defaults')
  async defaults(@Auth() auth: AuthContext, @Param('project') project: string, @Req() req: Request) {
    this.policy.enforce('quotas:show', auth, { project_id: auth.projectId });
    return { quota_set: withoutGone({ id: project, ...(await this.quotas.defaults()) }, req) };
  }

  @Get('os-quota-sets/:project/detail')
  async detail(@Auth() auth: AuthContext, @Param('project') project: string, @Req() req: Request) {
    this.checkProject(auth, project);
    const [limits, used] = await Promise.all([this.quotas.limits(project), this.inUse(project, auth.userId)]);
    const set: Record<string, unknown> = { id: project };
    for (const [k, v] of Object.entries(limits)) set[k] = { limit: v, in_use: used[k] ?? 0, reserved: 0 };
    return { quota_set: withoutGone(set, req) };
  }

  @Get('os-quota-sets/:project')
  async show(@Auth() auth: AuthContext, @Param('project') project: string, @Req() req: Request) {
    this.checkProject(auth, project);
    return { quota_set: withoutGone({ id: project, ...(await this.quotas.limits(project)) }, req) };
  }

  @Put('os-quota-sets/:project')
  async update(@Auth() auth: AuthContext, @Param('project') project: string, @Body() body: unknown, @Req() req: Request) {
    this.policy.enforce('quotas:update', auth, { project_id: project });
    const b = bodyOf(body, 'quota_set');
    const values: Record<string, number> = {};
    for (const k of Object.keys(b)) {
      if (k === 'force' || k === 'tenant_id') continue;
      if (!(k in QUOTA_DEFAULTS) || goneAt(req).includes(k)) throw invalid('quota_set', b, `Additional properties are not allowed ('${k}' was unexpected)`);
      values[k] = limitField(b, k);
    }
    const used = await this.inUse(project, auth.userId);
    if (b.force !== true && b.force !== 'true') {
      for (const [k, v] of Object.entries(values)) {
        if (v >= 0 && (used[k] ?? 0) > v) throw ApiError.badRequest(`Quota limit ${v} for ${k} must be greater than or equal to already used and reserved ${used[k]}.`);
      }
    }
    await this.quotas.set(project, values);
    return { quota_set: withoutGone(await this.quotas.limits(project), req) };
  }

  @Delete('os-quota-sets/:project')
  @HttpCode(202)
  async reset(@Auth() auth: AuthContext, @Param('project') project: string) {
    this.policy.enforce('quotas:update', auth, { project_id: project });
    await this.quotas.reset(project);
  }

  @Get('limits')
  async limits(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    let project = auth.projectId ?? '';
    if (typeof q.tenant_id === 'string' && q.tenant_id && q.tenant_id !== project) {
      this.policy.enforce('limits:other_project', auth);
      project = q.tenant_id;
    }
    const [l, u] = await Promise.all([this.quotas.limits(project), this.inUse(project, auth.userId)]);
    const absolute: Record<string, unknown> = {
      maxServerMeta: l.metadata_items,
      maxPersonality: l.injected_files,
      maxPersonalitySize: l.injected_file_content_bytes,
      maxImageMeta: l.metadata_items,
      maxTotalKeypairs: l.key_pairs,
      maxSecurityGroupRules: l.security_group_rules,
      maxSecurityGroups: l.security_groups,
      maxServerGroups: l.server_groups,
      maxServerGroupMembers: l.server_group_members,
      maxTotalCores: l.cores,
      maxTotalFloatingIps: l.floating_ips,
      maxTotalInstances: l.instances,
      maxTotalRAMSize: l.ram,
      totalCoresUsed: u.cores,
      totalRAMUsed: u.ram,
      totalInstancesUsed: u.instances,
      totalFloatingIpsUsed: 0,
      totalSecurityGroupsUsed: 0,
      totalServerGroupsUsed: u.server_groups,
    };
    // 2.36: the network limits go with the proxy APIs.
    if (atLeast(req, 36)) for (const k of ['maxSecurityGroupRules', 'maxSecurityGroups', 'maxTotalFloatingIps', 'totalFloatingIpsUsed', 'totalSecurityGroupsUsed']) delete absolute[k];
    // 2.39: the image metadata limit goes with the image-metadata proxy (Glance's own quota applies).
    if (atLeast(req, 39)) delete absolute.maxImageMeta;
    // 2.57: no file injection, no personality limits.
    if (atLeast(req, 57)) for (const k of ['maxPersonality', 'maxPersonalitySize']) delete absolute[k];
    return { limits: { rate: [], absolute } };
  }
}
