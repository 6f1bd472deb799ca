import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { RpcError, type ServerPort } from '@kumo/contracts';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import type { Request } from 'express';
import { ConductorService } from '../conductor/conductor.service.js';
import { NETWORK_CLIENT, type NetworkClient } from '../conductor/peers.js';
import { invalid, isAdmin, type Json } from '../common/nova.js';
import { Db } from '../db/db.js';
import { EventRelay } from '../events/event-relay.js';
import type { InstanceRow, PortRecord } from '../servers/instance.model.js';
import { InstancesRepository, isUuid } from '../servers/instances.repository.js';
import { ServersService } from '../servers/servers.service.js';
import { checkDeviceTag } from '../servers/block-devices.js';
import { TRANSITIONS } from '../servers/state-machine.js';
import { atLeast } from '../versions/microversion.js';

function requestIdOf(req: Request): string {
  return (req as unknown as { id?: string }).id ?? String(req.headers['x-openstack-request-id'] ?? 'req-unknown');
}

/** Nova's interfaceAttachment body (v2.1 schema: no tag below 2.49). */
function attachmentView(p: ServerPort) {
  return {
    port_state: p.status,
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    port_id: p.id,
    net_id: p.networkId,
    mac_addr: p.macAddress,
  };
}

function recordOf(p: ServerPort): PortRecord {
  return { id: p.id, networkId: p.networkId, networkName: p.networkName, macAddress: p.macAddress, mtu: p.mtu, fixedIps: p.fixedIps, floatingIps: p.floatingIps };
}

/** The network service's refusal in Nova's words and codes (NetworkNotFound 404, PortInUse 409, …). */
function apiErrorOf(err: unknown): unknown {
  if (!(err instanceof RpcError)) return err;
  switch (err.code) {
    case 'not_found':
      return ApiError.notFound(err.message);
    case 'conflict':
      return ApiError.conflict(err.message);
    case 'bad_request':
      return ApiError.badRequest(err.message);
    case 'over_limit':
      return new ApiError(403, err.message, { type: 'forbidden' });
    default:
      return new ApiError(500, `${err.service ?? 'peer'}: ${err.message}`);
  }
}

/**
 * `os-interface`: a server's ports, hot-plugged through the network service (ports) and the
 * host's agent (the NIC). Attach and detach run as short tasks (`interface_attaching` /
 * `interface_detaching`) so no other action races them; the request waits for both services, as
 * Nova's does, and gives the port back when the agent fails. A task the API process abandoned
 * is ended by the reconciler (its re-sent sync is answered by the agent).
 */
@Controller('v2.1/servers/:id/os-interface')
export class InterfacesController {
  constructor(
    private readonly db: Db,
    private readonly repo: InstancesRepository,
    private readonly servers: ServersService,
    private readonly conductor: ConductorService,
    private readonly relay: EventRelay,
    private readonly policy: PolicyService,
    @Inject(NETWORK_CLIENT) private readonly network: NetworkClient,
  ) {}

  private async ports(i: InstanceRow): Promise<ServerPort[]> {
    try {
      return await this.network.listPorts(i.id);
    } catch (err) {
      throw apiErrorOf(err);
    }
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Param('id') id: string) {
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:interfaces', auth, { project_id: i.project_id });
    return { interfaceAttachments: (await this.ports(i)).map(attachmentView) };
  }

  @Get(':portId')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Param('portId') portId: string) {
    const i = await this.servers.find(auth, id);
    this.policy.enforce('servers:interfaces', auth, { project_id: i.project_id });
    const p = (await this.ports(i)).find((x) => x.id === portId);
    if (!p) throw ApiError.notFound(`Port ${portId} is not attached`);
    return { interfaceAttachment: attachmentView(p) };
  }

  /** Starts the short task under the instance's row lock (409 as any action in the wrong state). */
  private async begin(auth: AuthContext, id: string, action: 'attach_interface' | 'detach_interface', requestId: string): Promise<InstanceRow> {
    const t = TRANSITIONS[action];
    const out = await this.db.transaction(async (tx) => {
      const seen = await this.servers.find(auth, id, tx);
      this.policy.enforce('servers:interfaces:update', auth, { project_id: seen.project_id });
      const i = (await this.repo.lock(tx, seen.id))!;
      if (i.locked && !isAdmin(auth)) throw ApiError.conflict(`Instance ${i.id} is locked`);
      if (i.task_state) throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in task_state ${i.task_state}`);
      if (!(t.from as readonly string[]).includes(i.vm_state) || !i.host) throw ApiError.conflict(`Cannot '${action}' instance ${i.id} while it is in vm_state ${i.vm_state}`);
      await this.repo.startAction(tx, i, action, auth.userId, requestId);
      return this.repo.update(tx, i, { task_state: t.task, target_vm_state: i.vm_state, task_updated_at: new Date(), task_started_at: new Date() }, requestId);
    });
    this.relay.kick();
    return out;
  }

  /** Ends the task; `ports` (when given) becomes the instance's port list. */
  private async end(i: InstanceRow, task: string, ok: boolean, ports: PortRecord[] | ((cur: PortRecord[]) => PortRecord[]) | undefined, requestId: string, message?: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const cur = await this.repo.lock(tx, i.id);
      if (!cur || cur.task_state !== task) return;
      const patch: Record<string, unknown> = { task_state: null };
      if (ports) patch.ports = typeof ports === 'function' ? ports(cur.ports ?? []) : ports;
      await this.repo.update(tx, cur, patch, requestId);
      await this.repo.finishAction(tx, i.id, ok, message);
    });
    this.relay.kick();
  }

  @Post()
  @HttpCode(200)
  async attach(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown, @Req() req: Request) {
    const raw = body && typeof body === 'object' ? (body as Json).interfaceAttachment : undefined;
    if (raw !== undefined && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) throw invalid('interfaceAttachment', raw, "is not of type 'object'");
    const a = (raw ?? {}) as Json;
    // 2.49: a device tag (kept with the port record; Nova shows it from 2.70).
    const keys = atLeast(req, 49) ? ['net_id', 'port_id', 'fixed_ips', 'tag'] : ['net_id', 'port_id', 'fixed_ips'];
    for (const k of Object.keys(a)) if (!keys.includes(k)) throw invalid('interfaceAttachment', a, `Additional properties are not allowed ('${k}' was unexpected)`);
    const tag = a.tag === undefined ? undefined : checkDeviceTag(a.tag);
    const netId = a.net_id as string | undefined;
    const portId = a.port_id as string | undefined;
    if (netId !== undefined && (typeof netId !== 'string' || !isUuid(netId))) throw invalid('net_id', netId, "is not a 'uuid'");
    if (portId !== undefined && (typeof portId !== 'string' || !isUuid(portId))) throw invalid('port_id', portId, "is not a 'uuid'");
    if (netId && portId) throw ApiError.badRequest('Must not input both network_id and port_id');
    let fixedIp: string | undefined;
    if (a.fixed_ips !== undefined) {
      const ips = a.fixed_ips;
      if (!Array.isArray(ips) || ips.length !== 1 || !ips[0] || typeof ips[0] !== 'object' || typeof (ips[0] as Json).ip_address !== 'string') throw invalid('fixed_ips', ips, 'expected one item {"ip_address": "…"}');
      if (!netId) throw ApiError.badRequest('Must input network_id when request IP address');
      fixedIp = (ips[0] as Json).ip_address as string;
    }
    const rid = requestIdOf(req);
    const before = await this.servers.find(auth, id);
    if (portId && (before.ports ?? []).some((p) => p.id === portId)) throw ApiError.conflict(`Port ${portId} is still in use.`);
    const i = await this.begin(auth, id, 'attach_interface', rid);
    let port: ServerPort | undefined;
    try {
      const ports = await this.network.allocate(
        { projectId: i.project_id, serverId: i.id, networks: netId || portId ? [{ networkId: netId, portId, fixedIp }] : 'auto', securityGroups: i.security_groups, host: i.host ?? undefined, additional: true, asAdmin: isAdmin(auth) && auth.projectId !== i.project_id },
        rid,
      );
      port = ports.find((p) => !(i.ports ?? []).some((x) => x.id === p.id)) ?? ports[ports.length - 1];
      if (!port) throw ApiError.badRequest('The network service allocated no port.');
      try {
        await this.conductor.attachInterface(i, recordOf(port), rid);
      } catch (err) {
        // The NIC did not go in: the port goes back (deleted if it was made for this attach).
        await this.network.unbind(port.id, true, rid).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      await this.end(i, 'interface_attaching', false, undefined, rid, (err as Error).message);
      throw apiErrorOf(err);
    }
    const attached = port;
    await this.end(i, 'interface_attaching', true, (cur) => [...cur.filter((p) => p.id !== attached.id), { ...recordOf(attached), ...(tag !== undefined && { tag }) }], rid);
    return { interfaceAttachment: attachmentView(port) };
  }

  @Delete(':portId')
  @HttpCode(202)
  async detach(@Auth() auth: AuthContext, @Param('id') id: string, @Param('portId') portId: string, @Req() req: Request) {
    const rid = requestIdOf(req);
    const before = await this.servers.find(auth, id);
    this.policy.enforce('servers:interfaces:update', auth, { project_id: before.project_id });
    const known = (before.ports ?? []).some((p) => p.id === portId) || (await this.ports(before)).some((p) => p.id === portId);
    if (!known) throw ApiError.notFound(`Port ${portId} is not attached`);
    const i = await this.begin(auth, id, 'detach_interface', rid);
    try {
      await this.conductor.detachInterface(i, portId, rid);
      await this.network.unbind(portId, true, rid);
    } catch (err) {
      await this.end(i, 'interface_detaching', false, undefined, rid, (err as Error).message);
      throw apiErrorOf(err);
    }
    await this.end(i, 'interface_detaching', true, (cur) => cur.filter((p) => p.id !== portId), rid);
  }
}
