import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Put, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiError, Auth, type AuthContext, KUMO_CONFIG, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { invalid, isoMicro, type Json, nextLink, pageOf } from '../common/nova.js';
import { isUuid } from '../servers/instances.repository.js';
import { hostZoneSql } from '../aggregates/host-zone.js';
import { Db } from '../db/db.js';
import { atLeast, requireAtMost } from '../versions/microversion.js';

/** 2.53 removed os-hypervisors/{pattern}/search and /servers. */
const LAST_HYPERVISOR_SUBRESOURCE = 52;
/** From 2.53 hypervisors and services are named by uuid (compute_node.uuid / service_uuid) instead of the integer id. */
const UUID_FOR_ID = 53;

/** Nova's strict bool_from_string, for `with_servers`. */
function strictBool(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  const s = String(v).toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(s)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(s)) return false;
  throw ApiError.badRequest(`Invalid input for query parameters ${field}. Value: ${String(v)}. '${String(v)}' is not a boolean`);
}

interface NodeRow {
  id: number;
  uuid: string;
  service_uuid: string;
  host: string;
  availability_zone: string;
  hypervisor_type: string;
  hypervisor_version: string;
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  vcpus_used: number;
  memory_mb_used: number;
  local_gb_used: number;
  running_vms: number;
  enabled: boolean;
  disabled_reason: string | null;
  forced_down: boolean;
  cpu_info: Record<string, unknown>;
  last_heartbeat: Date;
  host_uptime: { seconds: number; load: number[] } | null;
}

/** What `uptime` prints (procps, without the user count the agent does not know), as of now. */
export function uptimeLine(u: { seconds: number; load: number[] }, reportedAt: Date, now = new Date()): string {
  const secs = u.seconds + Math.max(0, Math.floor((now.getTime() - reportedAt.getTime()) / 1000));
  const days = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const up = `${days ? `${days} day${days === 1 ? '' : 's'}, ` : ''}${h ? `${String(h).padStart(2, ' ')}:${String(m).padStart(2, '0')}` : `${m} min`}`;
  return ` ${now.toISOString().slice(11, 19)} up ${up},  load average: ${u.load.map((x) => x.toFixed(2)).join(', ')}`;
}

/** Migration statuses of a move that is over (Nova's MigrationList.get_in_progress_by_host_and_node leaves these out). */
const FINISHED_MIGRATION = ['confirmed', 'reverted', 'error', 'failed', 'completed', 'cancelled', 'done'];

/** Hypervisors, compute services and availability zones: views of compute_node (aggregates: aggregates/). */
@Controller('v2.1')
export class HostsController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  /** `availability_zone` is the host's zone: its aggregate's, else the one its agent reports. */
  private async nodes(): Promise<NodeRow[]> {
    return this.db.rows<NodeRow>(`SELECT n.*, ${hostZoneSql(this.db)} AS effective_az FROM ${this.db.t('compute_node')} n ORDER BY n.id`).then((rows) =>
      rows.map((r) => ({ ...r, availability_zone: (r as NodeRow & { effective_az: string }).effective_az })),
    );
  }

  /** A forced-down service is down whatever its heartbeat says (Nova's servicegroup is_up). */
  private up(n: NodeRow): boolean {
    return !n.forced_down && Date.now() - new Date(n.last_heartbeat).getTime() < this.config.KUMO_COMPUTE_HOST_DOWN_S * 1000;
  }

  private hypervisorView(n: NodeRow, detail: boolean, req?: Request) {
    const byUuid = !!req && atLeast(req, UUID_FOR_ID);
    const base = { id: byUuid ? n.uuid : n.id, hypervisor_hostname: n.host, state: this.up(n) ? 'up' : 'down', status: n.enabled ? 'enabled' : 'disabled' };
    if (!detail) return base;
    const version = Number(String(n.hypervisor_version).replace(/\D/g, '')) || 1000;
    return {
      ...base,
      hypervisor_type: n.hypervisor_type,
      hypervisor_version: version,
      host_ip: '127.0.0.1',
      vcpus: n.vcpus,
      vcpus_used: n.vcpus_used,
      memory_mb: n.memory_mb,
      memory_mb_used: n.memory_mb_used,
      local_gb: n.local_gb,
      local_gb_used: n.local_gb_used,
      free_ram_mb: n.memory_mb - n.memory_mb_used,
      free_disk_gb: n.local_gb - n.local_gb_used,
      current_workload: 0,
      running_vms: n.running_vms,
      disk_available_least: n.local_gb - n.local_gb_used,
      // 2.28: an object; a JSON string below.
      cpu_info: req && atLeast(req, 28) ? (n.cpu_info ?? {}) : JSON.stringify(n.cpu_info ?? {}),
      service: { host: n.host, id: byUuid ? n.service_uuid : n.id, disabled_reason: n.disabled_reason },
    };
  }

  @Get('os-hypervisors')
  async hypervisors(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('hypervisors', auth);
    return this.hypervisorPage(q, req, false);
  }

  @Get('os-hypervisors/detail')
  async hypervisorsDetail(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('hypervisors', auth);
    return this.hypervisorPage(q, req, true);
  }

  /**
   * 2.33: `limit`/`marker` (a hypervisor id) and `hypervisors_links`; below 2.33 Nova ignores them.
   * 2.53: the marker is a uuid; `hypervisor_hostname_pattern` (as the old search, no paging with it)
   * and `with_servers` replace the {pattern}/search and {pattern}/servers sub-resources.
   */
  private async hypervisorPage(q: Record<string, unknown>, req: Request, detail: boolean) {
    let nodes = await this.nodes();
    const out: Record<string, unknown> = {};
    const byUuid = atLeast(req, UUID_FOR_ID);
    const withServers = byUuid && strictBool(q.with_servers, 'with_servers');
    const pattern = byUuid && q.hypervisor_hostname_pattern !== undefined ? String(q.hypervisor_hostname_pattern) : undefined;
    if (pattern !== undefined) {
      if (q.limit !== undefined || q.marker !== undefined) throw ApiError.badRequest('Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.');
      nodes = await this.matching(pattern);
    } else if (atLeast(req, 33)) {
      const { limit, marker } = pageOf(q);
      if (marker !== undefined) {
        const at = nodes.findIndex((n) => (byUuid ? n.uuid : String(n.id)) === marker);
        if (at < 0) throw ApiError.badRequest(`marker [${marker}] not found`);
        nodes = nodes.slice(at + 1);
      }
      nodes = nodes.slice(0, limit);
      // As Nova's collection links: a next link whenever a page asked with limit is full.
      const last = nodes[nodes.length - 1];
      if (q.limit !== undefined && last && nodes.length === limit) out.hypervisors_links = nextLink(requestBaseUrl(req), detail ? 'os-hypervisors/detail' : 'os-hypervisors', q, byUuid ? last.uuid : String(last.id));
    }
    const views = [];
    for (const n of nodes) views.push(withServers ? await this.withServers(n, this.hypervisorView(n, detail, req)) : this.hypervisorView(n, detail, req));
    return { hypervisors: views, ...out };
  }

  /** Adds `servers` [{uuid, name}] of the instances on the node, left out when it runs none (as Nova below 2.75). */
  private async withServers<T extends object>(n: NodeRow, view: T): Promise<T & { servers?: { uuid: string; name: string }[] }> {
    const servers = await this.db.rows<{ id: string; name: string }>(`SELECT id, name FROM ${this.db.t('instance')} WHERE host = $1 AND vm_state <> 'deleted' ORDER BY created_at, id`, [n.host]);
    return { ...view, ...(servers.length ? { servers: servers.map((s) => ({ uuid: s.id, name: s.name })) } : {}) };
  }

  /**
   * The node a hypervisor id names: the integer id below 2.53 (anything else is not found), a
   * uuid from 2.53 (anything else → 400 "Invalid uuid", as Nova).
   */
  private async nodeById(id: string, req: Request): Promise<NodeRow> {
    const byUuid = atLeast(req, UUID_FOR_ID);
    if (byUuid && !isUuid(id)) throw ApiError.badRequest(`Invalid uuid ${id}`);
    const n = (await this.nodes()).find((x) => (byUuid ? x.uuid === id.toLowerCase() : String(x.id) === id));
    if (!n) throw ApiError.notFound(`Hypervisor with ID '${id}' could not be found.`);
    return n;
  }

  @Get('os-hypervisors/statistics')
  async statistics(@Auth() auth: AuthContext) {
    this.policy.enforce('hypervisors', auth);
    const nodes = await this.nodes();
    const sum = (f: (n: NodeRow) => number) => nodes.reduce((a, n) => a + f(n), 0);
    return {
      hypervisor_statistics: {
        count: nodes.length,
        vcpus: sum((n) => n.vcpus),
        vcpus_used: sum((n) => n.vcpus_used),
        memory_mb: sum((n) => n.memory_mb),
        memory_mb_used: sum((n) => n.memory_mb_used),
        local_gb: sum((n) => n.local_gb),
        local_gb_used: sum((n) => n.local_gb_used),
        free_ram_mb: sum((n) => n.memory_mb - n.memory_mb_used),
        free_disk_gb: sum((n) => n.local_gb - n.local_gb_used),
        current_workload: 0,
        running_vms: sum((n) => n.running_vms),
        disk_available_least: sum((n) => n.local_gb - n.local_gb_used),
      },
    };
  }

  @Get('os-hypervisors/:id')
  async hypervisor(@Auth() auth: AuthContext, @Param('id') id: string, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('hypervisors', auth);
    const n = await this.nodeById(id, req);
    // 2.53: `with_servers` on show too.
    const view = this.hypervisorView(n, true, req);
    return { hypervisor: atLeast(req, UUID_FOR_ID) && strictBool(q.with_servers, 'with_servers') ? await this.withServers(n, view) : view };
  }

  /**
   * 2.1–2.87 `GET /os-hypervisors/{id}/uptime`: the node's `uptime` line (Nova asks the host's
   * compute service, which runs `uptime`). Here it is built from the agent's last report (uptime
   * seconds and load averages, moved on by the time since that report). Nova's answers for the
   * rest: unknown id 404, a down service 400 "Compute service … unavailable", a driver without
   * uptime (an agent too old to report it) 501.
   */
  @Get('os-hypervisors/:id/uptime')
  async hypervisorUptime(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    requireAtMost(req, 87);
    this.policy.enforce('hypervisors', auth);
    const n = await this.nodeById(id, req);
    if (!this.up(n)) throw ApiError.badRequest(`Compute service ${n.host} unavailable.`);
    if (!n.host_uptime) throw new ApiError(501, 'Virt driver does not implement uptime function.');
    return { hypervisor: { ...this.hypervisorView(n, false, req), uptime: uptimeLine(n.host_uptime, new Date(n.last_heartbeat)) } };
  }

  /**
   * 2.1–2.52: the hypervisors whose hypervisor_hostname contains `pattern` (Nova's
   * hypervisor_get_all_by_hypervisor_hostname, a LIKE '%pattern%'). 2.53 replaced both
   * sub-resources with `hypervisor_hostname_pattern` / `with_servers` on the list: 404 from there on.
   */
  @Get('os-hypervisors/:pattern/search')
  async searchHypervisors(@Auth() auth: AuthContext, @Param('pattern') pattern: string, @Req() req: Request) {
    requireAtMost(req, LAST_HYPERVISOR_SUBRESOURCE);
    this.policy.enforce('hypervisors', auth);
    return { hypervisors: (await this.matching(pattern)).map((n) => this.hypervisorView(n, false)) };
  }

  /** 2.1–2.52: as search, each with `servers` [{uuid, name}] (key absent when the host runs none). */
  @Get('os-hypervisors/:pattern/servers')
  async hypervisorServers(@Auth() auth: AuthContext, @Param('pattern') pattern: string, @Req() req: Request) {
    requireAtMost(req, LAST_HYPERVISOR_SUBRESOURCE);
    this.policy.enforce('hypervisors', auth);
    const out = [];
    for (const n of await this.matching(pattern)) out.push(await this.withServers(n, this.hypervisorView(n, false)));
    return { hypervisors: out };
  }

  private async matching(pattern: string): Promise<NodeRow[]> {
    const nodes = (await this.nodes()).filter((x) => x.host.includes(pattern));
    if (!nodes.length) throw ApiError.notFound(`No hypervisor matching '${pattern}' could be found.`);
    return nodes;
  }

  @Get('os-services')
  async services(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    this.policy.enforce('services', auth);
    let nodes = await this.nodes();
    if (typeof q.host === 'string') nodes = nodes.filter((n) => n.host === q.host);
    const out = [];
    if (q.binary === undefined || q.binary === 'nova-compute') {
      for (const n of nodes)
        out.push(this.serviceView(n, req));
    }
    return { services: out };
  }

  private serviceView(n: NodeRow, req: Request) {
    return {
          id: atLeast(req, UUID_FOR_ID) ? n.service_uuid : n.id,
          binary: 'nova-compute',
          host: n.host,
          zone: n.availability_zone,
          status: n.enabled ? 'enabled' : 'disabled',
          state: this.up(n) ? 'up' : 'down',
          updated_at: isoMicro(n.last_heartbeat),
          disabled_reason: n.disabled_reason,
          ...(atLeast(req, 11) ? { forced_down: n.forced_down } : {}),
    };
  }

  /** 2.1 form: PUT /os-services/enable|disable|disable-log-reason {host, binary[, disabled_reason]}. */
  @Put('os-services/:op')
  async updateService(@Auth() auth: AuthContext, @Param('op') op: string, @Body() body: unknown, @Req() req: Request) {
    this.policy.enforce('services:update', auth);
    const b = (body ?? {}) as Json;
    if (atLeast(req, UUID_FOR_ID)) return this.updateServiceByUuid(op, b, req);
    if (op === 'force-down' && atLeast(req, 11)) return this.forceDown(b);
    if (!['enable', 'disable', 'disable-log-reason'].includes(op)) throw ApiError.notFound(`Unknown action ${op}`);
    if (typeof b.host !== 'string' || typeof b.binary !== 'string') throw ApiError.badRequest("Invalid input: 'host' and 'binary' are required");
    if (b.binary !== 'nova-compute') throw ApiError.notFound(`Service ${b.binary} on host ${b.host} not found.`);
    const reason = op === 'disable-log-reason' ? String(b.disabled_reason ?? '') : null;
    if (op === 'disable-log-reason' && (!reason || reason.length > 255)) throw ApiError.badRequest('The disabled reason must be 1 to 255 characters.');
    const n = await this.db.exec(`UPDATE ${this.db.t('compute_node')} SET enabled = $2, disabled_reason = $3 WHERE host = $1`, [b.host, op === 'enable', reason]);
    if (!n) throw ApiError.notFound(`Host ${b.host} could not be found.`);
    return { service: { host: b.host, binary: b.binary, status: op === 'enable' ? 'enabled' : 'disabled', ...(reason ? { disabled_reason: reason } : {}) } };
  }

  /**
   * 2.1–2.52 `DELETE /os-services/{id}` (the id is the integer one os-services shows: the
   * compute_node id). As Nova since Stein: 409 while the host still has instances (a live row
   * with `host` or `task_host` on it) or a move in progress from or to it; otherwise the node row
   * goes with its aggregate memberships, leftover claims and console tokens.
   *
   * Check and delete run in one transaction holding the node row `FOR UPDATE`, the lock every
   * claim on the host takes first (SchedulerService.lockHost): a boot that locked the host before
   * us has committed its instance when our check runs (409); one that comes after finds the row
   * gone and tries its next candidate (or ends in No valid host). An agent that is still running
   * re-registers the host with its next report, under a new id (Nova: a restarted nova-compute
   * re-creates its service record); stop the agent first.
   */
  @Delete('os-services/:id')
  @HttpCode(204)
  async deleteService(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request): Promise<void> {
    this.policy.enforce('services:delete', auth);
    const notFound = () => ApiError.notFound(`Service ${id} could not be found.`);
    // 2.53: the service uuid os-services shows from 2.53 (anything else → 400, as Nova).
    const byUuid = atLeast(req, UUID_FOR_ID);
    if (byUuid && !isUuid(id)) throw ApiError.badRequest(`Invalid uuid ${id}`);
    if (!byUuid && !/^\d{1,9}$/.test(id)) throw notFound();
    await this.db.transaction(async (tx) => {
      const [node] = await tx.rows<{ host: string }>(
        `SELECT host FROM ${this.db.t('compute_node')} WHERE ${byUuid ? 'service_uuid' : 'id'} = $1 FOR UPDATE`,
        [byUuid ? id.toLowerCase() : Number(id)],
      );
      if (!node) throw notFound();
      const [hosting] = await tx.rows(
        `SELECT 1 FROM ${this.db.t('instance')} WHERE (host = $1 OR task_host = $1) AND vm_state <> 'deleted' LIMIT 1`,
        [node.host],
      );
      if (hosting) throw ApiError.conflict('Unable to delete compute service that is hosting instances. Migrate or delete the instances first.');
      const [moving] = await tx.rows(
        `SELECT 1 FROM ${this.db.t('migration')} WHERE (source_compute = $1 OR dest_compute = $1) AND status <> ALL($2::text[]) LIMIT 1`,
        [node.host, FINISHED_MIGRATION],
      );
      if (moving) throw ApiError.conflict('Unable to delete compute service that has in-progress migrations. Complete the migrations or delete the instances first.');
      await tx.exec(`DELETE FROM ${this.db.t('aggregate_host')} WHERE host = $1`, [node.host]);
      await tx.exec(`DELETE FROM ${this.db.t('claim')} WHERE host = $1`, [node.host]);
      await tx.exec(`DELETE FROM ${this.db.t('console_auth_token')} WHERE host = $1`, [node.host]);
      await tx.exec(`DELETE FROM ${this.db.t('compute_node')} WHERE host = $1`, [node.host]);
    });
  }

  /**
   * 2.53 `PUT /os-services/{service_uuid}` {status, disabled_reason, forced_down} (replaces the
   * enable/disable/disable-log-reason/force-down forms, which now fail the uuid check as in Nova):
   * answers the whole service as os-services shows it.
   */
  private async updateServiceByUuid(id: string, b: Json, req: Request) {
    if (!isUuid(id)) throw ApiError.badRequest(`Invalid uuid ${id}`);
    for (const k of Object.keys(b)) if (!['status', 'disabled_reason', 'forced_down'].includes(k)) throw invalid('body', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    if (b.status !== undefined && b.status !== 'enabled' && b.status !== 'disabled') throw invalid('status', b.status, "is not one of ['enabled', 'disabled']");
    const reason = b.disabled_reason;
    if (reason !== undefined && (typeof reason !== 'string' || reason.length < 1 || reason.length > 255)) throw invalid('disabled_reason', reason, 'must be a string of 1 to 255 characters');
    let forcedDown: boolean | undefined;
    if (b.forced_down !== undefined) {
      const s = String(b.forced_down).toLowerCase();
      if (['true', '1', 't', 'on', 'y', 'yes'].includes(s)) forcedDown = true;
      else if (['false', '0', 'f', 'off', 'n', 'no'].includes(s)) forcedDown = false;
      else throw invalid('forced_down', b.forced_down, "is not of type 'boolean'");
    }
    const n = (await this.nodes()).find((x) => x.service_uuid === id.toLowerCase());
    if (!n) throw ApiError.notFound(`Service ${id} could not be found.`);
    if (b.status === 'enabled' && reason) throw ApiError.badRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
    if (b.status === undefined && forcedDown === undefined) throw ApiError.badRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
    const sets: string[] = [];
    const params: unknown[] = [n.host];
    if (b.status !== undefined) {
      params.push(b.status === 'enabled', b.status === 'disabled' ? (reason ?? null) : null);
      sets.push(`enabled = $${params.length - 1}`, `disabled_reason = $${params.length}`);
    }
    if (forcedDown !== undefined) {
      params.push(forcedDown);
      sets.push(`forced_down = $${params.length}`);
    }
    await this.db.exec(`UPDATE ${this.db.t('compute_node')} SET ${sets.join(', ')} WHERE host = $1`, params);
    const updated = (await this.nodes()).find((x) => x.host === n.host);
    if (!updated) throw ApiError.notFound(`Service ${id} could not be found.`);
    return { service: this.serviceView(updated, req) };
  }

  /**
   * 2.11: an operator marks a compute service down (fencing) without waiting for its heartbeat
   * to age: the scheduler skips it, the reconciler treats it as dead, host_status says DOWN.
   */
  private async forceDown(b: Json) {
    if (typeof b.host !== 'string' || typeof b.binary !== 'string') throw ApiError.badRequest("Invalid input: 'host' and 'binary' are required");
    if (typeof b.forced_down !== 'boolean') throw ApiError.badRequest(`Invalid input for field/attribute forced_down. Value: ${JSON.stringify(b.forced_down ?? null)}. 'forced_down' must be a boolean`);
    if (b.binary !== 'nova-compute') throw ApiError.notFound(`Service ${b.binary} on host ${b.host} not found.`);
    const n = await this.db.exec(`UPDATE ${this.db.t('compute_node')} SET forced_down = $2 WHERE host = $1`, [b.host, b.forced_down]);
    if (!n) throw ApiError.notFound(`Host ${b.host} could not be found.`);
    return { service: { host: b.host, binary: b.binary, forced_down: b.forced_down } };
  }

  @Get('os-availability-zone')
  async zones(@Auth() _auth: AuthContext) {
    const nodes = (await this.nodes()).filter((n) => n.enabled);
    const zones = [...new Set(nodes.map((n) => n.availability_zone))];
    if (!zones.length) zones.push('nova');
    return { availabilityZoneInfo: zones.map((z) => ({ zoneName: z, zoneState: { available: true }, hosts: null })) };
  }

  @Get('os-availability-zone/detail')
  async zonesDetail(@Auth() auth: AuthContext) {
    this.policy.enforce('availability_zones:detail', auth);
    const nodes = await this.nodes();
    const byZone = new Map<string, Record<string, unknown>>();
    for (const n of nodes) {
      if (!n.enabled) continue;
      const hosts = byZone.get(n.availability_zone) ?? {};
      hosts[n.host] = { 'nova-compute': { available: this.up(n), active: n.enabled, updated_at: isoMicro(n.last_heartbeat) } };
      byZone.set(n.availability_zone, hosts);
    }
    const info = [...byZone.entries()].map(([z, hosts]) => ({ zoneName: z, zoneState: { available: true }, hosts }));
    info.push({ zoneName: 'internal', zoneState: { available: true }, hosts: {} });
    return { availabilityZoneInfo: info };
  }
}
