import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type AllocateForServerReply, type AllocateForServerRequest, type BindPortRequest, type MetadataLookupReply, type MetadataLookupRequest, RpcError, rpcPattern, type ServerPort, type ServerRef } from '@kumo/contracts';
import { type Caller, isUuid, serviceCaller } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { NetworksService } from '../networks/networks.service.js';
import { PortsService } from '../ports/ports.service.js';

const ADMIN: Caller = { projectId: null, isAdmin: true, canWrite: true };
const bad = (message: string) => new RpcError({ code: 'bad_request', message });

/**
 * The RPCs compute calls on `kumo.network` (contracts/src/network.ts). Every call is safe to
 * repeat: allocate answers the ports a server already has, deallocate/unbind of what is gone
 * succeed. ApiErrors thrown by the services reach the caller as typed RpcErrors.
 */
@Controller()
export class NetworkRpcController {
  constructor(
    private readonly core: Core,
    private readonly networks: NetworksService,
    private readonly ports: PortsService,
  ) {}

  private t(n: string) {
    return this.core.t(n);
  }

  /** Ports of servers in the contract's camelCase shape. */
  private async serverPorts(rows: Row[], sql: Sql = this.core.db): Promise<ServerPort[]> {
    if (!rows.length) return [];
    const x = await this.ports.extras(rows, sql);
    const nets = await sql.rows<{ id: string; name: string; mtu: number }>(`SELECT id, name, mtu FROM ${this.t('network')} WHERE id = ANY($1::uuid[])`, [rows.map((r) => r.network_id)]);
    const subnets = await sql.rows<{ id: string; ip_version: number }>(`SELECT id, ip_version FROM ${this.t('subnet')} WHERE network_id = ANY($1::uuid[])`, [rows.map((r) => r.network_id)]);
    const fips = await sql.rows<{ port_id: string; floating_ip_address: string }>(`SELECT port_id, floating_ip_address FROM ${this.t('floatingip')} WHERE port_id = ANY($1::uuid[])`, [rows.map((r) => r.id)]);
    return rows.map((r) => {
      const net = nets.find((n) => n.id === r.network_id);
      return {
        id: r.id as string,
        networkId: r.network_id as string,
        networkName: net?.name ?? '',
        macAddress: r.mac_address as string,
        fixedIps: (x.fixedIps.get(r.id as string) ?? []).map((f) => ({ subnetId: f.subnet_id, ipAddress: f.ip_address, ipVersion: Number(subnets.find((s) => s.id === f.subnet_id)?.ip_version ?? 4) })),
        status: r.status as string,
        mtu: Number(net?.mtu ?? 1450),
        securityGroups: x.groups.get(r.id as string) ?? [],
        floatingIps: fips.filter((f) => f.port_id === r.id).map((f) => f.floating_ip_address),
        createdForServer: r.created_for_server as boolean,
      };
    });
  }

  private portsOf(serverId: string, sql: Sql = this.core.db) {
    return sql.rows(`SELECT * FROM ${this.t('port')} WHERE device_id = $1 AND device_owner LIKE 'compute:%' ORDER BY created_at, id`, [serverId]);
  }

  /** Security group names or ids of the project → ids (the project's `default` when none are named). */
  private async groupIds(tx: Sql, c: Caller, projectId: string, names: string[] | undefined): Promise<string[]> {
    const wanted = names?.length ? names : ['default'];
    const out: string[] = [];
    for (const w of wanted) {
      if (w === 'default') {
        out.push(await this.core.ensureDefaultGroup(projectId));
        continue;
      }
      const rows = await tx.rows<{ id: string }>(
        `SELECT id FROM ${this.t('security_group')} WHERE (id::text = $1 OR name = $1) AND (project_id = $2 OR $3)`,
        [w, projectId, c.isAdmin],
      );
      if (!rows.length) throw new RpcError({ code: 'not_found', message: `Security group ${w} not found in project ${projectId}.` });
      if (rows.length > 1) throw new RpcError({ code: 'conflict', message: `Multiple security groups are named ${w}; use its id.` });
      out.push(rows[0]!.id);
    }
    return [...new Set(out)];
  }

  @MessagePattern(rpcPattern('network', 'allocate_for_server'))
  async allocateForServer(@Payload() req: AllocateForServerRequest): Promise<AllocateForServerReply> {
    if (!req?.projectId || !req.serverId) throw bad('allocate_for_server needs projectId and serverId');
    const existing = await this.portsOf(req.serverId);
    // `additional` (contract 1.1, os-interface attach): more ports for a server that has some.
    if ((existing.length && !req.additional) || req.networks === 'none') return { ports: await this.serverPorts(existing) };
    const c = serviceCaller(req.projectId, req.asAdmin === true);
    let requested = req.networks;
    if (requested === 'auto') {
      const usable = await this.core.db.rows<{ id: string }>(`SELECT id FROM ${this.t('network')} WHERE (project_id = $1 OR shared) AND NOT external ORDER BY created_at`, [req.projectId]);
      if (!usable.length) throw new RpcError({ code: 'conflict', message: `Project ${req.projectId} has no network to attach the server to; create one (or pass networks: none).` });
      if (usable.length > 1) throw new RpcError({ code: 'conflict', message: `Multiple possible networks found for project ${req.projectId}; say which network(s) the server should use.` });
      requested = [{ networkId: usable[0]!.id }];
    }
    if (!Array.isArray(requested)) throw bad('networks must be auto, none or a list');
    const groups = await this.core.db.transaction((tx) => this.groupIds(tx, c, req.projectId, req.securityGroups));
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const r of requested) {
        if (r.portId) {
          const p = await this.ports.get(c, r.portId, tx);
          if (!c.isAdmin && p.project_id !== req.projectId) throw new RpcError({ code: 'not_found', message: `Port ${r.portId} not found.` });
          if (p.device_id && p.device_id !== req.serverId) throw new RpcError({ code: 'conflict', message: `Port ${r.portId} is in use by device ${p.device_id as string}; detach it first.` });
          await this.ports.updateIn(tx, ADMIN, r.portId, { device_id: req.serverId, device_owner: 'compute:nova', ...(req.host ? { 'binding:host_id': req.host } : {}) }, true);
          out.push(r.portId);
        } else if (r.networkId) {
          const body: Record<string, unknown> = { network_id: r.networkId, device_id: req.serverId, device_owner: 'compute:nova', project_id: req.projectId };
          if (r.fixedIp) body.fixed_ips = [{ ip_address: r.fixedIp }];
          if (req.host) body['binding:host_id'] = req.host;
          const net = await this.networks.get(c, r.networkId, tx);
          if (net.port_security_enabled) body.security_groups = groups;
          if (!c.isAdmin && net.project_id !== req.projectId && !net.shared) throw new RpcError({ code: 'not_found', message: `Network ${r.networkId} is not usable by project ${req.projectId} (external networks need a floating IP).` });
          out.push(await this.ports.createIn(tx, { ...c, isAdmin: true, projectId: req.projectId }, body, { createdForServer: true }));
        } else throw bad('each requested network needs networkId or portId');
      }
      return out;
    });
    const rows = await this.core.db.rows(`SELECT * FROM ${this.t('port')} WHERE id = ANY($1::uuid[])`, [ids]);
    return { ports: await this.serverPorts(ids.map((id) => rows.find((r) => r.id === id)!)) };
  }

  @MessagePattern(rpcPattern('network', 'deallocate_for_server'))
  async deallocateForServer(@Payload() req: ServerRef): Promise<{ deleted: number; unbound: number }> {
    if (!req?.serverId) throw bad('deallocate_for_server needs serverId');
    return this.core.tx(async (tx) => {
      let deleted = 0;
      let unbound = 0;
      for (const p of await this.portsOf(req.serverId, tx)) {
        if (p.created_for_server) {
          await this.ports.deleteIn(tx, p.id as string);
          deleted++;
        } else {
          await this.ports.updateIn(tx, ADMIN, p.id as string, { device_id: '', device_owner: '', 'binding:host_id': '' }, true);
          unbound++;
        }
      }
      return { deleted, unbound };
    });
  }

  @MessagePattern(rpcPattern('network', 'list_server_ports'))
  async listServerPorts(@Payload() req: ServerRef): Promise<{ ports: ServerPort[] }> {
    if (!req?.serverId) throw bad('list_server_ports needs serverId');
    return { ports: await this.serverPorts(await this.portsOf(req.serverId)) };
  }

  @MessagePattern(rpcPattern('network', 'bind_port'))
  async bindPort(@Payload() req: BindPortRequest): Promise<{ port: ServerPort }> {
    if (!req?.portId || !isUuid(req.portId) || !req.host) throw bad('bind_port needs portId and host');
    await this.core.tx(async (tx) => {
      const p = (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1`, [req.portId]))[0];
      if (!p) throw new RpcError({ code: 'not_found', message: `Port ${req.portId} not found.` });
      if (p.device_id && p.device_id !== req.serverId) throw new RpcError({ code: 'conflict', message: `Port ${req.portId} belongs to device ${p.device_id as string}.` });
      await this.ports.updateIn(tx, ADMIN, req.portId, { 'binding:host_id': req.host, device_id: req.serverId, ...(p.device_owner ? {} : { device_owner: 'compute:nova' }) }, true);
    });
    const rows = await this.core.db.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1`, [req.portId]);
    return { port: (await this.serverPorts(rows))[0]! };
  }

  @MessagePattern(rpcPattern('network', 'unbind_port'))
  async unbindPort(@Payload() req: { portId: string; deleteIfCreated?: boolean }): Promise<{ ok: true }> {
    if (!req?.portId) throw bad('unbind_port needs portId');
    if (!isUuid(req.portId)) return { ok: true };
    await this.core.tx(async (tx) => {
      const p = (await tx.rows(`SELECT id, created_for_server FROM ${this.t('port')} WHERE id = $1`, [req.portId]))[0];
      // Contract 1.1 (Nova's interface detach): a port compute created goes away, a user's port stays, unbound.
      if (p && req.deleteIfCreated && p.created_for_server) await this.ports.deleteIn(tx, req.portId);
      else if (p) await this.ports.updateIn(tx, ADMIN, req.portId, { device_id: '', device_owner: '', 'binding:host_id': '' }, true);
    });
    return { ok: true };
  }

  @MessagePattern(rpcPattern('network', 'metadata_lookup'))
  async metadataLookup(@Payload() req: MetadataLookupRequest): Promise<MetadataLookupReply> {
    if (!req?.networkId || !req.fixedIp) throw bad('metadata_lookup needs networkId and fixedIp');
    if (!isUuid(req.networkId)) return { serverId: null, projectId: null, portId: null };
    const rows = await this.core.db.rows<{ id: string; device_id: string; device_owner: string; project_id: string }>(
      `SELECT p.id, p.device_id, p.device_owner, p.project_id FROM ${this.t('ip_allocation')} a JOIN ${this.t('port')} p ON p.id = a.port_id WHERE a.network_id = $1 AND a.ip_address = $2`,
      [req.networkId, req.fixedIp],
    );
    const p = rows[0];
    if (!p) return { serverId: null, projectId: null, portId: null };
    return { serverId: p.device_owner.startsWith('compute:') && p.device_id ? p.device_id : null, projectId: p.project_id, portId: p.id };
  }
}
