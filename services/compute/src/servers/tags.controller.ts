import { Body, Controller, Delete, Get, HttpCode, Param, Put, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { invalid, type Json } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';
import { requireVersion } from '../versions/microversion.js';
import type { InstanceRow } from './instance.model.js';
import { ServersService } from './servers.service.js';
import { checkTag, MAX_TAGS } from './tag-rules.js';


/** Nova changes tags only in these vm_states (server_tags._check_instance_in_valid_state). */
const TAGGABLE = ['active', 'paused', 'suspended', 'stopped', 'shelved', 'shelved_offloaded'];

/**
 * Server tags (microversion 2.26): `/servers/{id}/tags[/{tag}]`, 404 below 2.26. Reads follow the
 * server's visibility (another project's server is a 404); changes need a member of the owning
 * project and a server at rest (409 as Nova otherwise). The list filters are in ServersService.list.
 */
@Controller('v2.1/servers/:id/tags')
export class ServerTagsController {
  constructor(
    private readonly db: Db,
    private readonly servers: ServersService,
    private readonly policy: PolicyService,
  ) {}

  private async readable(auth: AuthContext, id: string, req: Request): Promise<InstanceRow> {
    requireVersion(req, 26);
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:tags', auth, { project_id: i.project_id });
    return i;
  }

  /** Runs `change` with the server row locked, after Nova's checks. */
  private async change<T>(auth: AuthContext, id: string, req: Request, action: string, change: (i: InstanceRow, tx: Sql) => Promise<T>): Promise<T> {
    requireVersion(req, 26);
    return this.db.transaction(async (tx) => {
      const seen = await this.servers.find(auth, id, tx);
      this.policy.enforce('servers:tags:update', auth, { project_id: seen.project_id });
      const [i] = await tx.rows<InstanceRow>(`SELECT * FROM ${this.db.t('instance')} WHERE id = $1 FOR UPDATE`, [seen.id]);
      if (!TAGGABLE.includes(i!.vm_state)) throw ApiError.conflict(`Cannot '${action}' instance ${i!.id} while it is in vm_state ${i!.vm_state}`);
      return change(i!, tx);
    });
  }

  private async tagsOf(sql: Sql, id: string): Promise<string[]> {
    return (await sql.rows<{ tag: string }>(`SELECT tag FROM ${this.db.t('instance_tag')} WHERE instance_id = $1 ORDER BY tag`, [id])).map((r) => r.tag);
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    const i = await this.readable(auth, id, req);
    return { tags: await this.tagsOf(this.db, i.id) };
  }

  @Get(':tag')
  async check(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string, @Req() req: Request, @Res() res: Response) {
    const i = await this.readable(auth, id, req);
    const [row] = await this.db.rows(`SELECT 1 FROM ${this.db.t('instance_tag')} WHERE instance_id = $1 AND tag = $2`, [i.id, tag]);
    if (!row) throw ApiError.notFound(`Tag ${tag} could not be found.`);
    res.status(204).end();
  }

  /** Replaces every tag: `{"tags": [...]}` → 200 with the new list. */
  @Put()
  async replace(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const b = (body ?? {}) as Json;
    if (!Array.isArray(b.tags)) throw invalid('tags', b.tags, "'tags' is a required property of type 'array'");
    const tags = [...new Set(b.tags.map((t) => checkTag(t)))];
    if (tags.length > MAX_TAGS) throw ApiError.badRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);
    return this.change(auth, id, req, 'update tags', async (i, tx) => {
      await tx.exec(`DELETE FROM ${this.db.t('instance_tag')} WHERE instance_id = $1`, [i.id]);
      if (tags.length) await tx.exec(`INSERT INTO ${this.db.t('instance_tag')} (instance_id, tag) SELECT $1, unnest($2::text[])`, [i.id, tags]);
      return { tags: await this.tagsOf(tx, i.id) };
    });
  }

  /** Adds one tag: 201 with its Location when new, 204 when it was there already. */
  @Put(':tag')
  async add(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string, @Req() req: Request, @Res() res: Response) {
    checkTag(tag);
    const created = await this.change(auth, id, req, 'update tag', async (i, tx) => {
      const [has] = await tx.rows(`SELECT 1 FROM ${this.db.t('instance_tag')} WHERE instance_id = $1 AND tag = $2`, [i.id, tag]);
      if (has) return false;
      const [n] = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('instance_tag')} WHERE instance_id = $1`, [i.id]);
      if (Number(n!.n) >= MAX_TAGS) throw ApiError.badRequest(`The number of tags exceeded the per-server limit ${MAX_TAGS}`);
      await tx.exec(`INSERT INTO ${this.db.t('instance_tag')} (instance_id, tag) VALUES ($1, $2)`, [i.id, tag]);
      return true;
    });
    if (created) res.setHeader('Location', `${requestBaseUrl(req)}/v2.1/servers/${id}/tags/${encodeURIComponent(tag)}`);
    res.status(created ? 201 : 204).end();
  }

  @Delete()
  @HttpCode(204)
  async removeAll(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    await this.change(auth, id, req, 'delete tags', (i, tx) => tx.exec(`DELETE FROM ${this.db.t('instance_tag')} WHERE instance_id = $1`, [i.id]));
  }

  @Delete(':tag')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string, @Req() req: Request) {
    await this.change(auth, id, req, 'delete tag', async (i, tx) => {
      const n = await tx.exec(`DELETE FROM ${this.db.t('instance_tag')} WHERE instance_id = $1 AND tag = $2`, [i.id, tag]);
      if (!n) throw ApiError.notFound(`Tag ${tag} could not be found.`);
    });
  }
}
