import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Param, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { atLeast } from '../versions/microversion.js';
import { Post } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import { bodyOf, boolish, invalid, isAdmin, projectOf, stringField } from '../common/nova.js';
import { Db } from '../db/db.js';
import { QuotaService } from '../quotas/quota.service.js';
import { isUuid } from '../servers/instances.repository.js';

const POLICIES = ['affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'];

interface GroupRow {
  id: string;
  name: string;
  project_id: string;
  user_id: string;
  policy: string;
  metadata: Record<string, string>;
}

/** Server groups at 2.1 (`policies: [one]`); members are the group's non-deleted instances. */
@Controller('v2.1/os-server-groups')
export class ServerGroupsController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    private readonly quotas: QuotaService,
  ) {}

  private async view(g: GroupRow, req: Request) {
    const members = await this.db.rows<{ id: string }>(`SELECT id FROM ${this.db.t('instance')} WHERE server_group_id = $1 AND vm_state <> 'deleted' ORDER BY seq`, [g.id]);
    const v = { id: g.id, name: g.name, policies: [g.policy], members: members.map((m) => m.id), metadata: g.metadata ?? {} };
    // 2.13: the owner of the group.
    return atLeast(req, 13) ? { ...v, project_id: g.project_id, user_id: g.user_id } : v;
  }

  private async find(auth: AuthContext, id: string): Promise<GroupRow> {
    const [g] = isUuid(id) ? await this.db.rows<GroupRow>(`SELECT * FROM ${this.db.t('server_group')} WHERE id = $1`, [id]) : [];
    if (!g || (!isAdmin(auth) && g.project_id !== auth.projectId)) throw ApiError.notFound(`Instance group ${id} could not be found.`);
    return g;
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('server_groups:show', auth, { project_id: auth.projectId });
    const all = isAdmin(auth) && q.all_projects !== undefined && boolish(q.all_projects, 'all_projects') !== false;
    const rows = await this.db.rows<GroupRow>(`SELECT * FROM ${this.db.t('server_group')} WHERE $1 OR project_id = $2 ORDER BY created_at`, [all, auth.projectId ?? '']);
    return { server_groups: await Promise.all(rows.map((g) => this.view(g, req))) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    const g = await this.find(auth, id);
    this.policy.enforce('server_groups:show', auth, { project_id: g.project_id });
    return { server_group: await this.view(g, req) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request) {
    const project = projectOf(auth);
    this.policy.enforce('server_groups:create', auth, { project_id: project });
    const b = bodyOf(body, 'server_group');
    const name = stringField(b, 'name', { required: true, min: 1 })!;
    const policies = b.policies;
    // 2.15: the soft policies exist from 2.15 on (Nova's schema enum below has only the hard ones).
    const allowed = atLeast(req, 15) ? POLICIES : POLICIES.slice(0, 2);
    if (!Array.isArray(policies) || policies.length !== 1 || !allowed.includes(policies[0] as string)) throw invalid('policies', policies, `must be a list with one of ${allowed.join(', ')}`);
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      await this.quotas.lockProject(tx, project);
      const limit = (await this.quotas.limits(project, tx)).server_groups!;
      const used = (await this.quotas.usage(project, tx)).server_groups;
      if (limit >= 0 && used >= limit) throw new ApiError(403, 'Quota exceeded, too many server groups.', { type: 'forbidden' });
      await tx.exec(`INSERT INTO ${this.db.t('server_group')} (id, name, project_id, user_id, policy) VALUES ($1,$2,$3,$4,$5)`, [id, name, project, auth.userId, policies[0]]);
    });
    return { server_group: await this.view((await this.db.rows<GroupRow>(`SELECT * FROM ${this.db.t('server_group')} WHERE id = $1`, [id]))[0]!, req) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    const g = await this.find(auth, id);
    this.policy.enforce('server_groups:delete', auth, { project_id: g.project_id });
    await this.db.exec(`DELETE FROM ${this.db.t('server_group')} WHERE id = $1`, [g.id]);
  }
}
