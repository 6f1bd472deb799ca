import { Body, Controller, Delete, Get, Head, HttpCode, Param, Patch, Post, Put, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { Directory, type UserRow } from '../common/directory.js';
import { listLinks, v3Base } from '../common/http.js';
import { groupJson, userJson } from '../common/render.js';
import { description, extraOf, type Json, name, newId, queryStr, str, wrapped } from '../common/validate.js';
import { Db } from '../db/db.service.js';

const KNOWN = ['id', 'name', 'domain_id', 'description', 'links'];

@Controller('v3/groups')
export class GroupsController {
  constructor(
    private readonly db: Db,
    private readonly dir: Directory,
    private readonly policy: PolicyService,
  ) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request, @Query() q: Record<string, unknown>) {
    this.policy.enforce('identity:list_groups', auth, { domain_id: queryStr(q.domain_id) ?? '' });
    const where: string[] = [];
    const params: unknown[] = [];
    for (const k of ['name', 'domain_id']) {
      const s = queryStr(q[k]);
      if (s !== undefined) where.push(`${k} = $${params.push(s)}`);
    }
    const rows = await this.db.q<Json>(`SELECT * FROM identity.groups ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY name`, params);
    const base = v3Base(req);
    return { groups: rows.map((g) => groupJson(g, base)), links: listLinks(req) };
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const g = wrapped(body, 'group');
    const n = name(g, 'name', 255)!;
    const domainId = str(g, 'domain_id', { max: 64 }) ?? auth.projectDomainId ?? auth.domainId ?? 'default';
    this.policy.enforce('identity:create_group', auth, { domain_id: domainId });
    const row = await this.db.tx(async (sql) => {
      await this.dir.domain(domainId, sql).catch(() => {
        throw ApiError.notFound(`Could not find domain: ${domainId}.`);
      });
      return (await sql.one<Json>(`INSERT INTO identity.groups (id, name, domain_id, description, extra) VALUES ($1, $2, $3, $4, $5) RETURNING *`, [
        newId(),
        n,
        domainId,
        description(g) ?? '',
        JSON.stringify(extraOf(g, KNOWN)),
      ]))!;
    });
    return { group: groupJson(row, v3Base(req)) };
  }

  private async visible(auth: AuthContext, id: string, action: string): Promise<Json> {
    this.policy.enforce(action, auth, { group_id: id });
    return this.dir.group(id);
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return { group: groupJson(await this.visible(auth, id, 'identity:get_group'), v3Base(req)) };
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const g = wrapped(body, 'group');
    const cur = await this.visible(auth, id, 'identity:update_group');
    if (g.domain_id !== undefined && g.domain_id !== cur.domain_id) throw ApiError.badRequest('Cannot change the domain of a group.');
    const n = name(g, 'name', 255, false);
    const desc = description(g);
    const row = await this.db.one<Json>(
      `UPDATE identity.groups SET name = coalesce($2, name), description = CASE WHEN $3::boolean THEN $4 ELSE description END, extra = extra || $5::jsonb WHERE id = $1 RETURNING *`,
      [id, n ?? null, desc !== undefined, desc ?? null, JSON.stringify(extraOf(g, KNOWN))],
    );
    return { group: groupJson(row!, v3Base(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.visible(auth, id, 'identity:delete_group');
    await this.db.tx(async (sql) => {
      await sql.q(`DELETE FROM identity.assignment WHERE actor_type = 'group' AND actor_id = $1`, [id]);
      await sql.q(`DELETE FROM identity.groups WHERE id = $1`, [id]);
    });
  }

  @Get(':id/users')
  async users(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.visible(auth, id, 'identity:list_users_in_group');
    const rows = await this.db.q<UserRow>(`SELECT u.* FROM identity.users u JOIN identity.group_member m ON m.user_id = u.id WHERE m.group_id = $1 ORDER BY u.name`, [id]);
    const base = v3Base(req);
    return { users: rows.map((u) => userJson(u, base)), links: listLinks(req) };
  }

  @Put(':id/users/:userId')
  @HttpCode(204)
  async addUser(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string) {
    await this.visible(auth, id, 'identity:add_user_to_group');
    await this.dir.user(userId);
    await this.db.q(`INSERT INTO identity.group_member (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [id, userId]);
  }

  @Head(':id/users/:userId')
  @HttpCode(204)
  async checkUserHead(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string) {
    return this.checkUser(auth, id, userId);
  }

  @Get(':id/users/:userId')
  @HttpCode(204)
  async checkUser(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string) {
    await this.visible(auth, id, 'identity:check_user_in_group');
    await this.dir.user(userId);
    if (!(await this.db.one(`SELECT 1 FROM identity.group_member WHERE group_id = $1 AND user_id = $2`, [id, userId]))) {
      throw ApiError.notFound(`User ${userId} is not a member of group ${id}.`);
    }
  }

  @Delete(':id/users/:userId')
  @HttpCode(204)
  async removeUser(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string) {
    await this.visible(auth, id, 'identity:remove_user_from_group');
    await this.dir.user(userId);
    const gone = await this.db.q(`DELETE FROM identity.group_member WHERE group_id = $1 AND user_id = $2 RETURNING user_id`, [id, userId]);
    if (gone.length === 0) throw ApiError.notFound(`User ${userId} is not a member of group ${id}.`);
  }
}
