import { Controller, Get, Param, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { boolish, isAdmin, nextLink, pageOf } from '../common/nova.js';
import { Db } from '../db/db.js';
import type { InstanceRow } from '../servers/instance.model.js';
import { statusOf } from '../servers/state-machine.js';
import { atLeast } from '../versions/microversion.js';

const HOUR = 3600 * 1000;

/** Nova's naive timestamps (`2024-01-01T00:00:00.000000`). */
function naive(d: Date): string {
  return d.toISOString().replace(/(\.\d{3})Z$/, '$1000');
}

function parseTime(v: unknown, field: string, fallback: Date): Date {
  if (v === undefined || v === '') return fallback;
  const d = new Date(/Z|[+-]\d\d:?\d\d$/.test(String(v)) ? String(v) : `${String(v)}Z`);
  if (Number.isNaN(d.getTime())) throw ApiError.badRequest(`Invalid ${field} time ${String(v)}.`);
  return d;
}

/**
 * os-simple-tenant-usage: resource-hours of every instance that lived in [start, end), from the
 * instance rows themselves (launched_at/terminated_at), as Nova computes it.
 */
@Controller('v2.1/os-simple-tenant-usage')
export class UsageController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
  ) {}

  private window(q: Record<string, unknown>) {
    const end = parseTime(q.end, 'end', new Date());
    const start = parseTime(q.start, 'start', new Date(end.getTime() - 24 * HOUR));
    if (start > end) throw ApiError.badRequest('Invalid start time. The start time cannot occur after the end time.');
    return { start, end };
  }

  /**
   * 2.40: a page of the instances (`limit`, `marker` = an instance uuid, in creation order) instead
   * of all of them; the last instance id of the page is returned for the next link.
   */
  private async usage(projectIds: string[] | null, start: Date, end: Date, detailed: boolean, page?: { limit: number; marker?: string }) {
    let afterSeq: number | null = null;
    if (page?.marker) {
      const [m] = await this.db.rows<{ seq: number }>(`SELECT seq FROM ${this.db.t('instance')} WHERE id::text = $1`, [page.marker]);
      if (!m) throw ApiError.badRequest(`Marker ${page.marker} could not be found.`);
      afterSeq = m.seq;
    }
    const rows = await this.db.rows<InstanceRow>(
      `SELECT * FROM ${this.db.t('instance')} WHERE ($1::text[] IS NULL OR project_id = ANY($1)) AND created_at < $3 AND (terminated_at IS NULL OR terminated_at >= $2)
          AND ($4::bigint IS NULL OR seq > $4) ORDER BY seq LIMIT $5`,
      [projectIds, start, end, afterSeq, page ? page.limit : null],
    );
    const last = rows.length > 0 && page && rows.length === page.limit ? rows[rows.length - 1]!.id : undefined;
    const byProject = new Map<string, Record<string, unknown> & { server_usages: Record<string, unknown>[] }>();
    for (const i of rows) {
      const from = new Date(Math.max(start.getTime(), new Date(i.launched_at ?? i.created_at).getTime()));
      const to = new Date(Math.min(end.getTime(), i.terminated_at ? new Date(i.terminated_at).getTime() : end.getTime()));
      const hours = Math.max(0, (to.getTime() - from.getTime()) / HOUR);
      const t = byProject.get(i.project_id) ?? { tenant_id: i.project_id, total_local_gb_usage: 0, total_vcpus_usage: 0, total_memory_mb_usage: 0, total_hours: 0, start: naive(start), stop: naive(end), server_usages: [] };
      t.total_hours = (t.total_hours as number) + hours;
      t.total_vcpus_usage = (t.total_vcpus_usage as number) + hours * i.vcpus;
      t.total_memory_mb_usage = (t.total_memory_mb_usage as number) + hours * i.memory_mb;
      t.total_local_gb_usage = (t.total_local_gb_usage as number) + hours * i.root_gb;
      const startedAt = new Date(i.launched_at ?? i.created_at);
      t.server_usages.push({
        instance_id: i.id,
        name: i.name,
        hours,
        memory_mb: i.memory_mb,
        local_gb: i.root_gb,
        vcpus: i.vcpus,
        tenant_id: i.project_id,
        flavor: i.flavor.name,
        started_at: naive(startedAt),
        ended_at: i.terminated_at ? naive(new Date(i.terminated_at)) : null,
        state: i.vm_state === 'deleted' ? 'terminated' : statusOf(i.vm_state, null).toLowerCase() === 'active' ? 'active' : i.vm_state,
        uptime: Math.floor(((i.terminated_at ? new Date(i.terminated_at) : new Date()).getTime() - startedAt.getTime()) / 1000),
      });
      byProject.set(i.project_id, t);
    }
    const usages = [...byProject.values()].map((t) => {
      if (detailed) return t;
      const { server_usages: _omit, ...rest } = t;
      return rest;
    });
    return { usages, last };
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    // `os-simple-tenant-usage/` is the show of an empty tenant id, which Nova's router matches to
    // no route (404), not the list (Tempest's test_get_usage_tenant_with_empty_tenant_id).
    if (req.path.endsWith('/')) throw ApiError.notFound('The resource could not be found.');
    if (!isAdmin(auth)) throw ApiError.forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed.");
    const { start, end } = this.window(q);
    const paged = atLeast(req, 40);
    const { usages, last } = await this.usage(null, start, end, boolish(q.detailed, 'detailed') === true, paged ? pageOf(q) : undefined);
    const out: Record<string, unknown> = { tenant_usages: usages };
    if (last) out.tenant_usages_links = nextLink(requestBaseUrl(req), 'os-simple-tenant-usage', q, last);
    return out;
  }

  @Get(':project')
  async show(@Auth() auth: AuthContext, @Param('project') project: string, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('quotas:show', auth, { project_id: project });
    if (!isAdmin(auth) && auth.projectId !== project) throw ApiError.forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to be performed.");
    const { start, end } = this.window(q);
    const paged = atLeast(req, 40);
    const { usages, last } = await this.usage([project], start, end, true, paged ? pageOf(q) : undefined);
    const out: Record<string, unknown> = { tenant_usage: usages[0] ?? {} };
    if (last) out.tenant_usage_links = nextLink(requestBaseUrl(req), `os-simple-tenant-usage/${encodeURIComponent(project)}`, q, last);
    return out;
  }
}
