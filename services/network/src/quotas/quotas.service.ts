import { Injectable } from '@nestjs/common';
import { type Caller, invalidInput, notFound, policyRefused } from '../api/common.js';
import { Core, QUOTA_DEFAULTS } from '../db/core.js';

const RESOURCES = Object.keys(QUOTA_DEFAULTS);

@Injectable()
export class QuotasService {
  constructor(readonly core: Core) {}

  private check(c: Caller, project: string, action: string) {
    if (!c.isAdmin && project !== c.projectId) throw policyRefused(action);
  }

  async limits(project: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of RESOURCES) out[r] = await this.core.limitOf(this.core.db, project, r);
    return out;
  }

  async show(c: Caller, project: string) {
    this.check(c, project, 'get_quota');
    return { quota: await this.limits(project) };
  }

  defaults(c: Caller, project: string) {
    this.check(c, project, 'get_quota');
    return { quota: { ...QUOTA_DEFAULTS } };
  }

  async details(c: Caller, project: string) {
    this.check(c, project, 'get_quota');
    const limits = await this.limits(project);
    const out: Record<string, { limit: number; used: number; reserved: number }> = {};
    for (const r of RESOURCES) out[r] = { limit: limits[r]!, used: await this.core.usageOf(this.core.db, project, r), reserved: 0 };
    return { quota: out };
  }

  async list(c: Caller) {
    if (!c.isAdmin) throw policyRefused('get_quota');
    const projects = await this.core.db.rows<{ project_id: string }>(`SELECT DISTINCT project_id FROM ${this.core.t('quota')} ORDER BY project_id`);
    const quotas = [];
    for (const p of projects) quotas.push({ ...(await this.limits(p.project_id)), project_id: p.project_id, tenant_id: p.project_id });
    return { quotas };
  }

  async update(c: Caller, project: string, body: unknown) {
    if (!c.isAdmin) throw policyRefused('update_quota');
    const q = (body as { quota?: Record<string, unknown> })?.quota;
    if (!q || typeof q !== 'object') throw invalidInput('send {"quota": {"network": 20, ...}}.');
    for (const [k, v] of Object.entries(q)) {
      if (!RESOURCES.includes(k)) throw invalidInput(`Unrecognized quota resource '${k}'; known: ${RESOURCES.join(', ')}.`);
      const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < -1) throw invalidInput(`quota ${k} must be an integer >= -1 (-1: unlimited), not ${JSON.stringify(v)}.`);
      await this.core.db.exec(`INSERT INTO ${this.core.t('quota')} (project_id, resource, hard_limit) VALUES ($1, $2, $3) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit`, [project, k, n]);
    }
    return { quota: await this.limits(project) };
  }

  async reset(c: Caller, project: string) {
    if (!c.isAdmin) throw policyRefused('delete_quota');
    const n = await this.core.db.exec(`DELETE FROM ${this.core.t('quota')} WHERE project_id = $1`, [project]);
    if (!n) throw notFound('TenantQuotaNotFound', `Quota for tenant ${project} could not be found.`);
  }
}
