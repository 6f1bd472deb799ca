import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { isoMicro, type Json, nextLink, pageOf } from '../common/nova.js';
import { isUuid } from '../servers/instances.repository.js';
import { parseIsoTime } from '../servers/servers.service.js';
import { MovesService } from '../servers/moves.service.js';
import { Db } from '../db/db.js';
import type { MigrationRow } from '../servers/instances.repository.js';
import { ServersService } from '../servers/servers.service.js';
import { atLeast, requireVersion } from '../versions/microversion.js';

function requestIdOf(req: Request): string {
  return (req as unknown as { id?: string }).id ?? String(req.headers['x-openstack-request-id'] ?? 'req-unknown');
}

type Row = MigrationRow & { old_flavor_seq: number | null; new_flavor_seq: number | null };

/** Live migrations that have not ended (what `GET /servers/{id}/migrations` lists, Nova 2.23). */
const IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'];

/** The query parameters of `GET /os-migrations` from 2.59 (anything else → 400). */
const MIGRATION_QUERY_2_59 = ['hidden', 'host', 'instance_uuid', 'source_compute', 'status', 'migration_type', 'limit', 'marker', 'changes-since'];

/** `GET /os-migrations` (admin) and, from 2.23, `GET /servers/{id}/migrations[/{id}]`. */
@Controller('v2.1')
export class MigrationsController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    private readonly servers: ServersService,
    private readonly moves: MovesService,
  ) {}

  /** 2.22: `{"force_complete": null}` makes a running live migration converge now. */
  @Post('servers/:id/migrations/:mid/action')
  @HttpCode(202)
  async action(@Auth() auth: AuthContext, @Param('id') id: string, @Param('mid') mid: string, @Body() body: unknown, @Req() req: Request) {
    requireVersion(req, 22);
    const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Json;
    if (!('force_complete' in b) || Object.keys(b).length !== 1) throw ApiError.badRequest('Invalid action request: the body must be {"force_complete": null}.');
    if (b.force_complete !== null) throw ApiError.badRequest(`Invalid input for field/attribute force_complete. Value: ${JSON.stringify(b.force_complete)}. ${JSON.stringify(b.force_complete)} is not of type 'null'`);
    await this.moves.controlLiveMigration(auth, id, mid, 'force_complete', requestIdOf(req));
  }

  /** 2.24: abort a running live migration (the server stays on its source). */
  @Delete('servers/:id/migrations/:mid')
  @HttpCode(202)
  async abort(@Auth() auth: AuthContext, @Param('id') id: string, @Param('mid') mid: string, @Req() req: Request) {
    requireVersion(req, 24);
    await this.moves.controlLiveMigration(auth, id, mid, 'abort', requestIdOf(req));
  }

  @Get('os-migrations')
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('os_migrations', auth);
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    // 2.59: only the known query parameters (Nova's schema stops allowing others).
    if (atLeast(req, 59)) {
      for (const k of Object.keys(q)) {
        if (!MIGRATION_QUERY_2_59.includes(k)) throw ApiError.badRequest(`Invalid input for query parameters ${k}. Value: ${String(q[k])}. Additional properties are not allowed ('${k}' was unexpected)`);
      }
    }
    // Nova's filters: host (source or destination), status, instance_uuid, source_compute, migration_type (2.23).
    if (typeof q.host === 'string') where.push(`(source_compute = ${p(q.host)} OR dest_compute = ${p(q.host)})`);
    if (typeof q.status === 'string') where.push(`status = ${p(q.status)}`);
    if (typeof q.instance_uuid === 'string') where.push(`instance_id::text = ${p(q.instance_uuid)}`);
    if (typeof q.source_compute === 'string') where.push(`source_compute = ${p(q.source_compute)}`);
    if (typeof q.migration_type === 'string') where.push(`migration_type = ${p(q.migration_type)}`);
    // 2.59: pages newest first, `marker` = a migration uuid, `changes-since` on updated_at (Nova's
    // filter: a migration whose status never changed has none and is left out).
    let limit = 1000;
    if (atLeast(req, 59)) {
      const page = pageOf(q);
      limit = page.limit;
      if (page.marker) {
        const [m] = isUuid(page.marker) ? await this.db.rows<{ id: number }>(`SELECT id FROM ${this.db.t('migration')} WHERE uuid = $1`, [page.marker]) : [];
        if (!m) throw ApiError.badRequest(`Marker ${page.marker} could not be found.`);
        where.push(`id < ${p(m.id)}`);
      }
      if (q['changes-since'] !== undefined) {
        const since = parseIsoTime(q['changes-since']);
        if (!since) throw ApiError.badRequest(`Invalid input for query parameters changes-since. Value: ${String(q['changes-since'])}. '${String(q['changes-since'])}' is not a 'date-time'`);
        where.push(`updated_at >= ${p(since)}`);
      }
    }
    const rows = await this.db.rows<Row>(`SELECT * FROM ${this.db.t('migration')} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`, params);
    const base = requestBaseUrl(req);
    const v23 = atLeast(req, 23);
    const out: Record<string, unknown> = {
      migrations: rows.map((m) => {
        const v: Record<string, unknown> = {
          id: m.id,
          status: m.status,
          instance_uuid: m.instance_id,
          source_node: m.source_compute,
          source_compute: m.source_compute,
          dest_node: m.dest_compute,
          dest_compute: m.dest_compute,
          dest_host: m.dest_compute ? '127.0.0.1' : null,
          old_instance_type_id: m.old_flavor_seq,
          new_instance_type_id: m.new_flavor_seq,
          created_at: isoMicro(m.created_at),
          updated_at: isoMicro(m.updated_at),
        };
        if (v23) {
          v.migration_type = m.migration_type;
          // Nova links only live migrations in progress (to GET /servers/{id}/migrations/{id}).
          if (m.migration_type === 'live-migration' && IN_PROGRESS.includes(m.status)) {
            v.links = [
              { rel: 'self', href: `${base}/v2.1/servers/${m.instance_id}/migrations/${m.id}` },
              { rel: 'bookmark', href: `${base}/servers/${m.instance_id}/migrations/${m.id}` },
            ];
          }
        }
        if (atLeast(req, 59)) v.uuid = m.uuid;
        return v;
      }),
    };
    if (atLeast(req, 59) && limit > 0 && rows.length === limit) out.migrations_links = nextLink(base, 'os-migrations', q, rows[rows.length - 1]!.uuid);
    return out;
  }

  private serverMigration(m: Row, req: Request) {
    return {
      id: m.id,
      // 2.59: the uuid beside the id.
      ...(atLeast(req, 59) ? { uuid: m.uuid } : {}),
      server_uuid: m.instance_id,
      status: m.status,
      source_compute: m.source_compute,
      source_node: m.source_compute,
      dest_compute: m.dest_compute,
      dest_node: m.dest_compute,
      dest_host: m.dest_compute ? '127.0.0.1' : null,
      // The agents do not report transfer progress yet.
      memory_total_bytes: null,
      memory_processed_bytes: null,
      memory_remaining_bytes: null,
      disk_total_bytes: null,
      disk_processed_bytes: null,
      disk_remaining_bytes: null,
      created_at: isoMicro(m.created_at),
      updated_at: isoMicro(m.updated_at),
    };
  }

  @Get('servers/:id/migrations')
  async forServer(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    requireVersion(req, 23);
    this.policy.enforce('servers:migrations', auth);
    const i = await this.servers.find(auth, id);
    const rows = await this.db.rows<Row>(`SELECT * FROM ${this.db.t('migration')} WHERE instance_id = $1 AND migration_type = 'live-migration' AND status = ANY($2) ORDER BY id`, [i.id, IN_PROGRESS]);
    return { migrations: rows.map((m) => this.serverMigration(m, req)) };
  }

  @Get('servers/:id/migrations/:mid')
  async showForServer(@Auth() auth: AuthContext, @Param('id') id: string, @Param('mid') mid: string, @Req() req: Request) {
    requireVersion(req, 23);
    this.policy.enforce('servers:migrations', auth);
    const i = await this.servers.find(auth, id);
    const [m] = /^\d+$/.test(mid)
      ? await this.db.rows<Row>(`SELECT * FROM ${this.db.t('migration')} WHERE id = $1 AND instance_id = $2 AND migration_type = 'live-migration' AND status = ANY($3)`, [Number(mid), i.id, IN_PROGRESS])
      : [];
    if (!m) throw ApiError.notFound(`In-progress live migration ${mid} is not found for server ${i.id}.`);
    return { migration: this.serverMigration(m, req) };
  }
}
