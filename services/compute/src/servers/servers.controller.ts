import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, KUMO_CONFIG, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { ConductorService } from '../conductor/conductor.service.js';
import { bodyOf, invalid, isAdmin, isoMicro, type Json, metadataOf, nextLink } from '../common/nova.js';
import { Db } from '../db/db.js';
import { FloatingIpsService } from '../floating-ips/floating-ips.service.js';
import { SecurityGroupsService } from '../security-groups/security-groups.service.js';
import { ConsolesService } from './consoles.service.js';
import { ServerActionsService } from './server-actions.service.js';
import { addressesOf, serverView } from './server.view.js';
import { MovesService } from './moves.service.js';
import { diskConfigOf, ServersService } from './servers.service.js';
import type { ComputeConfig } from '../config.js';
import { atLeast, microversionOf, requireVersion } from '../versions/microversion.js';
import type { InstanceRow } from './instance.model.js';

function requestIdOf(req: Request): string {
  return (req as unknown as { id?: string }).id ?? String(req.headers['x-openstack-request-id'] ?? 'req-unknown');
}

@Controller('v2.1/servers')
export class ServersController {
  constructor(
    private readonly servers: ServersService,
    private readonly conductor: ConductorService,
    private readonly policy: PolicyService,
    private readonly db: Db,
    private readonly securityGroups: SecurityGroupsService,
    private readonly moves: MovesService,
    private readonly serverActions: ServerActionsService,
    private readonly consoles: ConsolesService,
    private readonly floatingIps: FloatingIpsService,
    @Inject(KUMO_CONFIG) private readonly config: ComputeConfig,
  ) {}

  /** 2.26: server bodies carry their tags (not read below). */
  private async tagsFor(req: Request, rows: InstanceRow[]): Promise<Map<string, string[]> | undefined> {
    return atLeast(req, 26) ? this.servers.tagsOf(rows.map((i) => i.id)) : undefined;
  }

  /**
   * 2.16 `host_status` of each instance's host (admins only by default, Nova's
   * os_compute_api:servers:show:host_status): forced down → DOWN, disabled → MAINTENANCE, late
   * heartbeat → UNKNOWN (the host may still run it), no host → "" — Nova's HostStatus values.
   */
  private async hostStatuses(auth: AuthContext, req: Request, rows: InstanceRow[]): Promise<Map<string, string> | undefined> {
    if (!atLeast(req, 16) || !this.policy.allows('servers:show:host_status', auth, {})) return undefined;
    const hosts = [...new Set(rows.map((i) => i.host).filter((h): h is string => !!h))];
    const out = new Map<string, string>();
    if (!hosts.length) return out;
    const nodes = await this.db.rows<{ host: string; status: string }>(
      `SELECT host, CASE WHEN forced_down THEN 'DOWN' WHEN NOT enabled THEN 'MAINTENANCE'
              WHEN last_heartbeat > now() - make_interval(secs => $2) THEN 'UP' ELSE 'UNKNOWN' END AS status
         FROM ${this.db.t('compute_node')} WHERE host = ANY($1)`,
      [hosts, this.config.KUMO_COMPUTE_HOST_DOWN_S],
    );
    for (const n of nodes) out.set(n.host, n.status);
    return out;
  }

  /** 2.47: whether the embedded flavors of these servers show their extra_specs (all of one project, or an admin's list). */
  private flavorExtraSpecs(auth: AuthContext, req: Request, rows: InstanceRow[]): boolean {
    if (!atLeast(req, 47)) return false;
    return rows.every((i) => this.policy.allows('servers:show:flavor-extra-specs', auth, { project_id: i.project_id }));
  }

  @Post()
  @HttpCode(202)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const base = requestBaseUrl(req);
    const { instances, adminPass, returnReservationId } = await this.servers.create(auth, body, requestIdOf(req), microversionOf(req));
    if (returnReservationId) return { reservation_id: instances[0]!.reservation_id };
    const i = instances[0]!;
    res.setHeader('Location', `${base}/v2.1/servers/${i.id}`);
    return {
      server: {
        id: i.id,
        links: [
          { rel: 'self', href: `${base}/v2.1/servers/${i.id}` },
          { rel: 'bookmark', href: `${base}/servers/${i.id}` },
        ],
        'OS-DCF:diskConfig': i.disk_config ?? 'MANUAL',
        security_groups: i.security_groups.map((name) => ({ name })),
        adminPass,
      },
    };
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const base = requestBaseUrl(req);
    const rows = await this.servers.list(auth, { detail: false, query: q, version: microversionOf(req) });
    const out: Record<string, unknown> = { servers: rows.map((i) => ({ id: i.id, name: i.name, links: serverView(i, base, { detail: false, admin: false }).links })) };
    if (q.limit !== undefined && rows.length > 0 && rows.length === Math.min(Number(q.limit), 1000)) out.servers_links = nextLink(base, 'servers', q, rows[rows.length - 1]!.id);
    return out;
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const base = requestBaseUrl(req);
    const rows = await this.servers.list(auth, { detail: true, query: q, version: microversionOf(req) });
    const admin = isAdmin(auth);
    const version = microversionOf(req);
    const hostStatus = await this.hostStatuses(auth, req, rows);
    const tags = await this.tagsFor(req, rows);
    const out: Record<string, unknown> = {
      servers: rows.map((i) => serverView(i, base, { detail: true, admin, version, hostStatus, tags, flavorExtraSpecs: this.flavorExtraSpecs(auth, req, [i]) })),
    };
    if (q.limit !== undefined && rows.length > 0 && rows.length === Math.min(Number(q.limit), 1000)) out.servers_links = nextLink(base, 'servers/detail', q, rows[rows.length - 1]!.id);
    return out;
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    const i = await this.servers.show(auth, id);
    const hostStatus = await this.hostStatuses(auth, req, [i]);
    return {
      server: serverView(i, requestBaseUrl(req), { detail: true, admin: isAdmin(auth), version: microversionOf(req), hostStatus, tags: await this.tagsFor(req, [i]), flavorExtraSpecs: this.flavorExtraSpecs(auth, req, [i]) }),
    };
  }

  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const i = await this.servers.update(auth, id, body, requestIdOf(req), microversionOf(req));
    return {
      server: serverView(i, requestBaseUrl(req), { detail: false, admin: false, version: microversionOf(req), tags: await this.tagsFor(req, [i]), flavorExtraSpecs: this.flavorExtraSpecs(auth, req, [i]) }),
    };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    await this.servers.act(auth, id, 'delete', requestIdOf(req));
  }

  @Get(':id/ips')
  async ips(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { addresses: addressesOf(await this.servers.show(auth, id), false) };
  }

  @Get(':id/ips/:network')
  async ipsOf(@Auth() auth: AuthContext, @Param('id') id: string, @Param('network') network: string) {
    const all = addressesOf(await this.servers.show(auth, id), false);
    if (!(network in all)) throw ApiError.notFound('Instance is not a member of specified network');
    return { [network]: all[network] };
  }

  @Get(':id/metadata')
  async metadata(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { metadata: (await this.servers.show(auth, id)).metadata };
  }

  @Post(':id/metadata')
  @HttpCode(200)
  async addMetadata(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const m = metadataOf((body as Json | undefined)?.metadata);
    return { metadata: await this.servers.setMetadata(auth, id, m, false, requestIdOf(req)) };
  }

  @Put(':id/metadata')
  async replaceMetadata(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const m = metadataOf((body as Json | undefined)?.metadata);
    return { metadata: await this.servers.setMetadata(auth, id, m, true, requestIdOf(req)) };
  }

  @Get(':id/metadata/:key')
  async metaItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string) {
    const m = (await this.servers.show(auth, id)).metadata;
    if (!(key in m)) throw ApiError.notFound('Metadata item was not found');
    return { meta: { [key]: m[key] } };
  }

  @Put(':id/metadata/:key')
  async putMetaItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string, @Body() body: unknown, @Req() req: Request) {
    const meta = metadataOf((body as Json | undefined)?.meta, 'meta');
    if (Object.keys(meta).length !== 1) throw ApiError.badRequest('Request body contains too many items');
    if (!(key in meta)) throw ApiError.badRequest('Request body and URI mismatch');
    await this.servers.setMetadata(auth, id, meta, false, requestIdOf(req));
    return { meta };
  }

  @Delete(':id/metadata/:key')
  @HttpCode(204)
  async deleteMetaItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string, @Req() req: Request) {
    await this.servers.deleteMetadata(auth, id, key, requestIdOf(req));
  }

  /** 2.6: the remote console of any protocol (the 2.1 os-get*Console actions stay). */
  @Post(':id/remote-consoles')
  @HttpCode(200)
  async remoteConsole(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    requireVersion(req, 6);
    return { remote_console: await this.consoles.createRemote(auth, id, body, requestBaseUrl(req), microversionOf(req)) };
  }

  /**
   * os-virtual-interfaces (2.12 only adds `net_id` to it). Nova with Neutron cannot list VIFs and
   * says so with a 400 (up to 2.43), after finding the server (another project's is a 404); 2.44
   * removed the API (404, in the negotiation middleware).
   * Kumo's ports are in Neutron too (os-interface lists them).
   */
  @Get(':id/os-virtual-interfaces')
  async virtualInterfaces(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.servers.show(auth, id);
    throw ApiError.badRequest('Listing virtual interfaces is not supported by this cloud.');
  }

  @Get(':id/os-security-groups')
  async serverSecurityGroups(@Auth() auth: AuthContext, @Param('id') id: string) {
    const i = await this.servers.show(auth, id);
    return { security_groups: await this.securityGroups.forServer(auth, i.id) };
  }

  @Get(':id/os-server-password')
  async password(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { password: await this.servers.password(auth, id) };
  }

  @Delete(':id/os-server-password')
  @HttpCode(204)
  async clearPassword(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.servers.clearPassword(auth, id);
  }

  /** A free-form dict from the driver below 2.48, Nova's standardized shape from 2.48; admin only by default. */
  @Get(':id/diagnostics')
  async diagnostics(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    return this.serverActions.diagnostics(auth, id, atLeast(req, 48));
  }

  @Get(':id/os-instance-actions')
  async actions(@Auth() auth: AuthContext, @Param('id') id: string, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const { rows, limit } = await this.servers.listActions(auth, id, q, microversionOf(req));
    const out: Record<string, unknown> = { instanceActions: rows.map((a) => actionView(a, atLeast(req, 58))) };
    // 2.58: a full page links to the next one (Nova's collection links, marker = the last request id).
    if (atLeast(req, 58) && limit > 0 && rows.length === limit) out.instanceActions_links = nextLink(requestBaseUrl(req), `servers/${id}/os-instance-actions`, q, String(rows[rows.length - 1]!.request_id));
    return out;
  }

  @Get(':id/os-instance-actions/:requestId')
  async action(@Auth() auth: AuthContext, @Param('id') id: string, @Param('requestId') requestId: string, @Req() req: Request) {
    const i = atLeast(req, 21) ? await this.servers.findWithDeleted(auth, id) : await this.servers.find(auth, id);
    this.policy.enforce('instance_actions', auth, { project_id: i.project_id });
    const [a] = await this.db.rows(`SELECT *, COALESCE(finish_time, start_time) AS updated_at FROM ${this.db.t('instance_action')} WHERE instance_id = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`, [i.id, requestId]);
    if (!a) throw ApiError.notFound(`Action for request_id ${requestId} on instance ${i.id} not found`);
    const view: Record<string, unknown> = actionView(a, atLeast(req, 58));
    // 2.51: every reader sees the events (to follow e.g. a volume extend); the traceback stays the policy's.
    const details = this.policy.allows('instance_actions:events', auth, { project_id: i.project_id });
    if (details || atLeast(req, 51)) {
      const event: Record<string, unknown> = { event: `compute_${String(a.action)}`, start_time: isoMicro(a.start_time as Date), finish_time: isoMicro(a.finish_time as Date | null), result: a.result ?? null };
      // A failed action's event carries the error (Nova puts the exception's traceback there).
      if (details) event.traceback = a.result === 'Error' ? (a.message ?? null) : null;
      view.events = [event];
    }
    return { instanceAction: view };
  }

  /** Actions answer 202, 204 or 200 depending on the action: the response is written here, not by Nest. */
  @Post(':id/action')
  async act(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request, @Res() res: Response) {
    const status = { code: 202 };
    const out = await this.runAction(auth, id, body, req, res, status);
    if (out === undefined) res.status(status.code).end();
    else res.status(status.code).json(out);
  }

  private async runAction(auth: AuthContext, id: string, body: unknown, req: Request, res: Response, status: { code: number }): Promise<unknown> {
    if (!body || typeof body !== 'object' || Array.isArray(body) || Object.keys(body).length !== 1) throw ApiError.badRequest('Invalid action request: the body must name exactly one action.');
    const [name, arg] = Object.entries(body as Json)[0]!;
    const rid = requestIdOf(req);
    const base = requestBaseUrl(req);
    switch (name) {
      case 'reboot': {
        const type = String(bodyOf(body, 'reboot').type ?? '').toUpperCase();
        if (type !== 'SOFT' && type !== 'HARD') throw ApiError.badRequest(`Invalid input for field/attribute type. Value: ${type}. 'type' must be one of 'SOFT', 'HARD'`);
        await this.servers.act(auth, id, type === 'HARD' ? 'reboot_hard' : 'reboot_soft', rid, async (_tx, i) => ({ reboot_seq: i.reboot_seq + 1, reboot_hard: type === 'HARD' }), 'reboot');
        return;
      }
      case 'os-stop':
        await this.servers.act(auth, id, 'stop', rid, undefined, 'stop');
        return;
      case 'os-start':
        await this.servers.act(auth, id, 'start', rid, undefined, 'start');
        return;
      case 'pause':
      case 'unpause':
      case 'suspend':
      case 'resume':
        await this.servers.act(auth, id, name, rid);
        return;
      case 'trigger_crash_dump':
        // 2.17; below, Nova has no such versioned action: 404. The body must be null.
        requireVersion(req, 17);
        if (arg !== null) throw ApiError.badRequest(`Invalid input for field/attribute trigger_crash_dump. Value: ${JSON.stringify(arg)}. ${JSON.stringify(arg)} is not of type 'null'`);
        await this.servers.triggerCrashDump(auth, id, rid);
        return;
      case 'lock':
      case 'unlock':
        await this.servers.setLock(auth, id, name === 'lock', rid);
        return;
      case 'resize': {
        const r = bodyOf(body, 'resize');
        if (r.flavorRef === undefined || r.flavorRef === null || r.flavorRef === '') throw ApiError.badRequest("Invalid input for field/attribute flavorRef. 'flavorRef' is a required property");
        await this.moves.resize(auth, id, String(r.flavorRef), rid, diskConfigOf(r));
        return;
      }
      case 'confirmResize':
        await this.moves.confirmResize(auth, id, rid);
        status.code = 204;
        return;
      case 'revertResize':
        await this.moves.revertResize(auth, id, rid);
        return;
      case 'migrate':
        await this.moves.migrate(auth, id, arg, rid, microversionOf(req));
        return;
      case 'os-migrateLive':
        await this.moves.liveMigrate(auth, id, arg, rid, microversionOf(req));
        return;
      case 'evacuate': {
        // 200; `{"adminPass"}` below 2.14 (Nova's enable_instance_password default), no body from 2.14.
        const adminPass = await this.moves.evacuate(auth, id, arg, rid, microversionOf(req));
        status.code = 200;
        return microversionOf(req) < 2014 ? { adminPass } : undefined;
      }
      case 'createImage': {
        const imageId = await this.servers.createImage(auth, id, bodyOf(body, 'createImage'), rid, microversionOf(req));
        // 2.45: the image id in the body, no Location header (below: only the header).
        if (atLeast(req, 45)) return { image_id: imageId };
        const imageBase = process.env.KUMO_IMAGE_URL ?? base.replace(/:\d+$/, ':9292');
        res.setHeader('Location', `${imageBase}/v2/images/${imageId}`);
        return;
      }
      case 'createBackup': {
        const b = bodyOf(body, 'createBackup');
        const imageId = await this.servers.createBackup(auth, id, b, rid, microversionOf(req));
        if (atLeast(req, 45)) return { image_id: imageId };
        // Below 2.45: the image's proxy URL in Location, and only when rotation > 0 (Nova's words:
        // "build location of newly-created image entity if rotation is not zero").
        if (Number(b.rotation) > 0) res.setHeader('Location', `${base}/v2.1/images/${imageId}`);
        return;
      }
      case 'rebuild': {
        const i = await this.servers.rebuild(auth, id, bodyOf(body, 'rebuild'), rid, microversionOf(req));
        return {
          server: {
            ...serverView(i, base, { detail: false, admin: false, version: microversionOf(req), tags: await this.tagsFor(req, [i]), flavorExtraSpecs: this.flavorExtraSpecs(auth, req, [i]) }),
            // 2.54: the rebuild body shows the (possibly replaced) key, as Nova's rebuild view.
            ...(atLeast(req, 54) ? { key_name: i.key_name } : {}),
            // 2.57: and the user data the guest was rebuilt with (to every caller, unlike 2.3's admin-only attribute).
            ...(atLeast(req, 57) ? { user_data: i.user_data } : {}),
            adminPass: Math.random().toString(36).slice(2, 14),
          },
        };
      }
      case 'restore': {
        // Soft delete is off (reclaim_instance_interval = 0): nothing is ever SOFT_DELETED.
        const i = await this.servers.find(auth, id);
        throw ApiError.conflict(`Cannot 'restore' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      }
      case 'addSecurityGroup':
      case 'removeSecurityGroup': {
        if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw ApiError.badRequest('Missing parameter dict');
        const group = (arg as Json).name;
        if (group === undefined) throw ApiError.badRequest('Security group not specified');
        if (typeof group !== 'string' || group.trim() === '') throw ApiError.badRequest('Security group name cannot be empty');
        const i = await this.servers.find(auth, id);
        this.policy.enforce('servers:action', auth, { project_id: i.project_id });
        if (name === 'addSecurityGroup') await this.securityGroups.addToServer(auth, i.id, group);
        else await this.securityGroups.removeFromServer(auth, i.id, group);
        await this.servers.setSecurityGroupNames(i.id, group, name === 'addSecurityGroup');
        return;
      }
      case 'os-resetState':
        await this.servers.resetState(auth, id, body, rid);
        return;
      case 'forceDelete':
        await this.servers.forceDelete(auth, id, rid);
        return;
      case 'os-getConsoleOutput': {
        const length = consoleLength(arg);
        const i = await this.servers.find(auth, id);
        this.policy.enforce('servers:action', auth, { project_id: i.project_id });
        // Any state with a host, SHUTOFF included: the log outlives the guest (Nova's
        // check_instance_host only; libvirt reads the domain's console log file).
        if (!i.host) throw ApiError.conflict(`Instance ${i.id} is not ready`);
        let output: string;
        try {
          output = await this.conductor.consoleOutput(i, length);
        } catch (err) {
          throw new ApiError(409, `Console output of instance ${i.id} is not available: ${(err as Error).message}`);
        }
        status.code = 200;
        // Nova strips control characters other than tab and newline (they break clients' JSON/terminal handling).
        // eslint-disable-next-line no-control-regex
        return { output: output.replace(/[\x00-\x08\x0B-\x1F]/g, '') };
      }
      // Issue 6: server actions.
      case 'rescue':
        status.code = 200;
        return { adminPass: await this.serverActions.rescue(auth, id, arg, rid) };
      case 'unrescue':
        await this.serverActions.unrescue(auth, id, rid);
        return;
      case 'shelve':
        await this.serverActions.shelve(auth, id, rid);
        return;
      case 'shelveOffload':
        await this.serverActions.shelveOffload(auth, id, rid);
        return;
      case 'unshelve':
        await this.serverActions.unshelve(auth, id, rid);
        return;
      case 'changePassword':
        await this.serverActions.changePassword(auth, id, arg, rid);
        return;
      case 'os-getVNCConsole':
      case 'os-getSPICEConsole':
      case 'os-getSerialConsole':
        status.code = 200;
        return { console: await this.consoles.create(auth, id, name, arg, base) };
      case 'addFloatingIp':
      case 'removeFloatingIp': {
        // Nova's proxy to Neutron (2.1–2.43); 2.44 removed them: 404 for an action outside its versions.
        if (atLeast(req, 44)) throw ApiError.notFound('The resource could not be found.');
        if (name === 'addFloatingIp') {
          const parsed = this.floatingIps.parseAdd(arg);
          await this.floatingIps.addToServer(auth, await this.servers.find(auth, id), parsed);
        } else {
          const parsed = this.floatingIps.parseRemove(arg);
          await this.floatingIps.removeFromServer(auth, await this.servers.find(auth, id), parsed);
        }
        return;
      }
      case 'addFixedIp':
      case 'removeFixedIp':
        // nova-network era actions: Kumo never had them (400 "no such action" below 2.44); 2.44
        // removed them from Nova's API, which answers 404 for an action outside its versions.
        if (atLeast(req, 44)) throw ApiError.notFound('The resource could not be found.');
        throw ApiError.badRequest(`There is no such action: ${name}`);
      default:
        throw ApiError.badRequest(`There is no such action: ${name}`);
    }
  }
}

/**
 * `length` of os-getConsoleOutput (Nova's schema: integer, numeric string or null, ≥ -1, nothing
 * else in the body). Null, absent and -1 mean the whole log (undefined); 0 an empty output.
 */
export function consoleLength(arg: unknown): number | undefined {
  if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw invalid('os-getConsoleOutput', arg, `${JSON.stringify(arg ?? null)} is not of type 'object'`);
  for (const k of Object.keys(arg)) if (k !== 'length') throw invalid('os-getConsoleOutput', arg, `Additional properties are not allowed ('${k}' was unexpected)`);
  const v = (arg as Json).length;
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' && Number.isInteger(v) ? v : typeof v === 'string' && /^-?[0-9]+$/.test(v) ? Number(v) : NaN;
  if (Number.isNaN(n)) throw invalid('length', v, `${JSON.stringify(v)} is not of type 'integer', 'string', 'null'`);
  if (n < -1) throw invalid('length', v, `${String(v)} is less than the minimum of -1`);
  return n === -1 ? undefined : n;
}

function actionView(a: Record<string, unknown>, withUpdatedAt: boolean) {
  return {
    action: a.action,
    instance_uuid: a.instance_id,
    request_id: a.request_id,
    user_id: a.user_id,
    project_id: a.project_id,
    start_time: isoMicro(a.start_time as Date),
    message: a.message ?? null,
    // 2.58 (list and show).
    ...(withUpdatedAt ? { updated_at: isoMicro(a.updated_at as Date) } : {}),
  };
}
