import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, invalidInput, isUuid, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { cidrContains, cidrsOverlap, formatCidr, formatIp, parseCidr, parseIp } from '../ipam/ip.js';
import { NetworksService, updateRow } from '../networks/networks.service.js';
import { PortsService, ROUTER_GATEWAY, ROUTER_INTERFACE } from '../ports/ports.service.js';
import { SubnetsService } from '../subnets/subnets.service.js';

const CREATE_KEYS = ['name', 'description', 'admin_state_up', 'external_gateway_info', 'tags', 'tenant_id', 'project_id', 'distributed', 'ha', 'availability_zone_hints', 'flavor_id', 'routes'] as const;
const UPDATE_KEYS = ['name', 'description', 'admin_state_up', 'external_gateway_info', 'tags', 'routes', 'distributed', 'ha'] as const;

type FixedIp = { subnet_id: string; ip_address: string };

@Injectable()
export class RoutersService {
  constructor(
    readonly core: Core,
    private readonly networks: NetworksService,
    private readonly subnets: SubnetsService,
    private readonly ports: PortsService,
  ) {}

  private t(n: string) {
    return this.core.t(n);
  }

  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    let pred = 'TRUE';
    if (!c.isAdmin) pred = `r.project_id = $${params.push(c.projectId)}`;
    return sql.rows(`SELECT r.* FROM ${this.t('router')} r WHERE ${pred} AND ${where} ORDER BY r.created_at, r.id`, params);
  }

  async render(rows: Row[], sql: Sql = this.core.db): Promise<Record<string, unknown>[]> {
    if (!rows.length) return [];
    const gwPorts = rows.map((r) => r.gw_port_id).filter(Boolean);
    const ips = gwPorts.length
      ? await sql.rows<FixedIp & { port_id: string }>(`SELECT port_id, subnet_id, ip_address FROM ${this.t('ip_allocation')} WHERE port_id = ANY($1::uuid[]) ORDER BY ip_address`, [gwPorts])
      : [];
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      admin_state_up: r.admin_state_up,
      status: r.status,
      external_gateway_info: r.gw_network_id
        ? { network_id: r.gw_network_id, enable_snat: r.enable_snat, external_fixed_ips: ips.filter((i) => i.port_id === r.gw_port_id).map((i) => ({ subnet_id: i.subnet_id, ip_address: i.ip_address })) }
        : null,
      routes: r.routes,
      distributed: false,
      ha: false,
      availability_zone_hints: [],
      availability_zones: ['nova'],
      flavor_id: null,
      ...std(r),
    }));
  }

  async list(c: Caller) {
    return this.render(await this.rows(c));
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.rows(c, 'r.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('RouterNotFound', `Router ${id} could not be found.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return (await this.render([await this.get(c, id)]))[0]!;
  }

  private async emit(tx: Sql, event: 'router.created' | 'router.updated' | 'router.deleted', id: string, c: Caller, row?: Row) {
    const r = row ?? (await tx.rows(`SELECT * FROM ${this.t('router')} WHERE id = $1`, [id]))[0]!;
    const [resource] = await this.render([r], tx);
    const interfaces = await tx.rows(`SELECT id FROM ${this.t('port')} WHERE device_id = $1 AND device_owner = $2`, [id, ROUTER_INTERFACE]);
    await this.core.emit(tx, event, r.project_id as string, id, { ...resource!, interface_port_ids: interfaces.map((p) => p.id) }, c.requestId);
  }

  async create(c: Caller, b: Record<string, unknown>) {
    requireWrite(c, 'create_router');
    checkKeys(b, CREATE_KEYS, 'router');
    const project = ownerFor(c, b);
    if ((b.distributed === true || b.ha === true) && !c.isAdmin) throw policyRefused('create_router:distributed');
    const id = randomUUID();
    await this.core.tx(async (tx) => {
      await this.core.checkQuota(tx, project, 'router');
      await tx.exec(`INSERT INTO ${this.t('router')} (id, project_id, name, description, admin_state_up, tags) VALUES ($1, $2, $3, $4, $5, $6)`, [
        id, project, str(b, 'name') ?? '', str(b, 'description') ?? '', bool(b, 'admin_state_up') ?? true, tagsOf(b) ?? [],
      ]);
      if (b.external_gateway_info) await this.setGateway(tx, c, id, b.external_gateway_info);
      await this.emit(tx, 'router.created', id, c);
    });
    return this.show(c, id);
  }

  /** Sets, changes or (with {} / null) clears the router's external gateway and its port. */
  private async setGateway(tx: Sql, c: Caller, id: string, info: unknown): Promise<void> {
    const r = (await tx.rows(`SELECT * FROM ${this.t('router')} WHERE id = $1 FOR UPDATE`, [id]))[0]!;
    const g = (info ?? {}) as Record<string, unknown>;
    if (typeof g !== 'object' || Array.isArray(g)) throw invalidInput('external_gateway_info must be an object with a network_id.');
    for (const k of Object.keys(g)) if (!['network_id', 'enable_snat', 'external_fixed_ips', 'qos_policy_id'].includes(k)) throw invalidInput(`Unrecognized key ${k} in external_gateway_info.`);
    if (!g.network_id) {
      if (r.gw_network_id) {
        const fips = await tx.rows(`SELECT id FROM ${this.t('floatingip')} WHERE router_id = $1 LIMIT 1`, [id]);
        if (fips.length) throw conflict('RouterExternalGatewayInUseByFloatingIp', `Gateway cannot be updated for router ${id}, since a gateway to external network ${r.gw_network_id as string} is required by one or more floating IPs (${fips[0]!.id as string}).`);
        await tx.exec(`UPDATE ${this.t('router')} SET gw_network_id = NULL, gw_port_id = NULL, enable_snat = true WHERE id = $1`, [id]);
        if (r.gw_port_id) await this.ports.deleteIn(tx, r.gw_port_id as string, c.requestId);
      }
      return;
    }
    if (g.enable_snat !== undefined && !c.isAdmin) throw policyRefused('update_router:external_gateway_info:enable_snat');
    if (g.external_fixed_ips !== undefined && !c.isAdmin) throw policyRefused('update_router:external_gateway_info:external_fixed_ips');
    const net = await this.networks.get(c, String(g.network_id), tx);
    if (!net.external) throw nerr(400, 'BadRequest', `Bad router request: Network ${net.id as string} is not an external network; pick one with router:external=true.`);
    const snat = g.enable_snat === undefined ? true : bool(g, 'enable_snat')!;
    if (r.gw_network_id === net.id) {
      await tx.exec(`UPDATE ${this.t('router')} SET enable_snat = $2 WHERE id = $1`, [id, snat]);
      if (g.external_fixed_ips !== undefined && r.gw_port_id) await this.ports.updateIn(tx, c, r.gw_port_id as string, { fixed_ips: g.external_fixed_ips }, true);
      return;
    }
    if (r.gw_network_id) await this.setGateway(tx, c, id, {});
    const portId = await this.ports.createIn(tx, c, { network_id: net.id, device_id: id, device_owner: ROUTER_GATEWAY, project_id: '', fixed_ips: g.external_fixed_ips }, { internal: true });
    const ips = await tx.rows(`SELECT 1 FROM ${this.t('ip_allocation')} WHERE port_id = $1`, [portId]);
    if (!ips.length) throw nerr(400, 'BadRequest', `Bad router request: external network ${net.id as string} has no subnet to give the gateway an address.`);
    await tx.exec(`UPDATE ${this.t('router')} SET gw_network_id = $2, gw_port_id = $3, enable_snat = $4 WHERE id = $1`, [id, net.id, portId, snat]);
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_router');
    checkKeys(b, UPDATE_KEYS, 'router');
    await this.core.tx(async (tx) => {
      await this.get(c, id, tx);
      const set: Record<string, unknown> = {};
      if (b.name !== undefined) set.name = str(b, 'name');
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.admin_state_up !== undefined) set.admin_state_up = bool(b, 'admin_state_up');
      if (b.tags !== undefined) set.tags = tagsOf(b);
      if (b.external_gateway_info !== undefined) await this.setGateway(tx, c, id, b.external_gateway_info);
      if (b.routes !== undefined) set.routes = await this.routesOf(tx, id, b.routes);
      await updateRow(tx, this.t('router'), id, set, ['routes']);
      await this.emit(tx, 'router.updated', id, c);
    });
    return this.show(c, id);
  }

  /** Static routes: each nexthop must be on a subnet the router has an interface (or gateway) on. */
  private async routesOf(tx: Sql, id: string, v: unknown) {
    if (v === null) return [];
    if (!Array.isArray(v)) throw invalidInput('routes must be a list of {"destination", "nexthop"} objects.');
    const subs = await tx.rows<{ cidr: string }>(
      `SELECT DISTINCT s.cidr FROM ${this.t('ip_allocation')} a JOIN ${this.t('port')} p ON p.id = a.port_id JOIN ${this.t('subnet')} s ON s.id = a.subnet_id WHERE p.device_id = $1 AND p.device_owner IN ($2, $3)`,
      [id, ROUTER_INTERFACE, ROUTER_GATEWAY],
    );
    return v.map((x: unknown) => {
      const o = (x ?? {}) as Record<string, unknown>;
      const dest = parseCidr(o.destination);
      const hop = parseIp(o.nexthop);
      if (!dest || !hop) throw nerr(400, 'InvalidRoutes', `Invalid format for routes: ${JSON.stringify(x)}: need a CIDR destination and an IP nexthop.`);
      if (!subs.some((s) => cidrContains(parseCidr(s.cidr)!, hop.version, hop.value))) {
        throw nerr(400, 'InvalidRoutes', `Invalid format for routes: ${JSON.stringify(x)}, the nexthop is not connected with router; add an interface on its subnet first.`);
      }
      return { destination: formatCidr(dest), nexthop: formatIp(hop.version, hop.value) };
    });
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_router');
    await this.core.tx(async (tx) => {
      const r = await this.get(c, id, tx);
      const ifaces = await tx.rows(`SELECT id FROM ${this.t('port')} WHERE device_id = $1 AND device_owner = $2 LIMIT 1`, [id, ROUTER_INTERFACE]);
      if (ifaces.length) throw conflict('RouterInUse', `Router ${id} still has ports (interface ${ifaces[0]!.id as string}); remove its interfaces first.`);
      const fips = await tx.rows(`SELECT id FROM ${this.t('floatingip')} WHERE router_id = $1 LIMIT 1`, [id]);
      if (fips.length) throw conflict('RouterInUse', `Router ${id} is used by floating IP ${fips[0]!.id as string}; disassociate it first.`);
      const [resource] = await this.render([r], tx);
      await tx.exec(`UPDATE ${this.t('router')} SET gw_port_id = NULL WHERE id = $1`, [id]);
      if (r.gw_port_id) await this.ports.deleteIn(tx, r.gw_port_id as string, c.requestId);
      await tx.exec(`DELETE FROM ${this.t('router')} WHERE id = $1`, [id]);
      await this.core.emit(tx, 'router.deleted', r.project_id as string, id, resource!, c.requestId);
    });
  }

  async addInterface(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'add_router_interface');
    if (!b || typeof b !== 'object') throw invalidInput('send {"subnet_id": ...} or {"port_id": ...}.');
    if (b.subnet_id && b.port_id) throw nerr(400, 'BadRequest', 'Bad router request: Cannot specify both subnet-id and port-id.');
    if (!b.subnet_id && !b.port_id) throw nerr(400, 'BadRequest', 'Bad router request: Either subnet_id or port_id must be specified.');
    return this.core.tx(async (tx) => {
      const r = await this.get(c, id, tx);
      await tx.rows(`SELECT id FROM ${this.t('router')} WHERE id = $1 FOR UPDATE`, [id]);
      let portId: string;
      if (b.port_id) {
        const p = await this.ports.owned(c, String(b.port_id), 'add_router_interface', tx);
        if (p.device_id || p.device_owner) throw conflict('PortInUse', `Unable to complete operation on port ${p.id as string} for network ${p.network_id as string}. Port already has an attached device ${p.device_id as string}.`);
        const ips = await tx.rows<FixedIp>(`SELECT subnet_id, ip_address FROM ${this.t('ip_allocation')} WHERE port_id = $1`, [p.id]);
        if (!ips.length) throw nerr(400, 'BadRequest', `Bad router request: Router port must have at least one fixed IP.`);
        for (const ip of ips) await this.checkNoOverlap(tx, id, ip.subnet_id);
        await tx.exec(`UPDATE ${this.t('port')} SET device_id = $2, device_owner = $3, status = 'ACTIVE', revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, [p.id, id, ROUTER_INTERFACE]);
        await tx.exec(`DELETE FROM ${this.t('port_security_group')} WHERE port_id = $1`, [p.id]);
        await this.ports.emitPort(tx, 'port.updated', p.id as string, c.requestId);
        portId = p.id as string;
      } else {
        const s = await this.subnets.get(c, String(b.subnet_id), tx);
        if (!c.isAdmin && s.project_id !== r.project_id) {
          const net = await this.networks.get(c, s.network_id as string, tx);
          if (!net.shared) throw policyRefused('add_router_interface');
        }
        if (!s.gateway_ip) throw nerr(400, 'BadRequest', `Bad router request: Subnet for router interface must have a gateway IP (subnet ${s.id as string} has none).`);
        await this.checkNoOverlap(tx, id, s.id as string);
        portId = await this.ports.createIn(tx, c, { network_id: s.network_id, device_id: id, device_owner: ROUTER_INTERFACE, project_id: r.project_id, fixed_ips: [{ subnet_id: s.id, ip_address: s.gateway_ip }] }, { internal: true });
      }
      const p = (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1`, [portId]))[0]!;
      const subnetIds = (await tx.rows<{ subnet_id: string }>(`SELECT subnet_id FROM ${this.t('ip_allocation')} WHERE port_id = $1`, [portId])).map((x) => x.subnet_id);
      await tx.exec(`UPDATE ${this.t('router')} SET revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, [id]);
      await this.emit(tx, 'router.updated', id, c);
      return { id, tenant_id: r.project_id, project_id: r.project_id, subnet_id: subnetIds[0] ?? null, subnet_ids: subnetIds, port_id: portId, network_id: p.network_id };
    });
  }

  /** A router may not join two subnets whose ranges overlap (it could not route between them). */
  private async checkNoOverlap(tx: Sql, routerId: string, subnetId: string): Promise<void> {
    const s = (await tx.rows<{ cidr: string; id: string }>(`SELECT id, cidr FROM ${this.t('subnet')} WHERE id = $1`, [subnetId]))[0]!;
    const attached = await tx.rows<{ id: string; cidr: string }>(
      `SELECT DISTINCT s.id, s.cidr FROM ${this.t('ip_allocation')} a JOIN ${this.t('port')} p ON p.id = a.port_id JOIN ${this.t('subnet')} s ON s.id = a.subnet_id WHERE p.device_id = $1 AND p.device_owner = $2`,
      [routerId, ROUTER_INTERFACE],
    );
    for (const o of attached) {
      if (o.id === s.id) throw nerr(400, 'BadRequest', `Bad router request: Router already has a port on subnet ${s.id}.`);
      if (cidrsOverlap(parseCidr(o.cidr)!, parseCidr(s.cidr)!)) throw nerr(400, 'BadRequest', `Bad router request: Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${o.cidr} of subnet ${o.id}.`);
    }
  }

  async removeInterface(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'remove_router_interface');
    if (!b || typeof b !== 'object' || (!b.subnet_id && !b.port_id)) throw nerr(400, 'BadRequest', 'Bad router request: Either subnet_id or port_id must be specified.');
    return this.core.tx(async (tx) => {
      const r = await this.get(c, id, tx);
      let port: Row | undefined;
      if (b.port_id) {
        port = (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1 AND device_id = $2 AND device_owner = $3`, [isUuid(b.port_id) ? b.port_id : null, id, ROUTER_INTERFACE]))[0];
        if (!port) throw notFound('RouterInterfaceNotFound', `Router ${id} does not have an interface with id ${String(b.port_id)}.`);
      } else {
        port = (
          await tx.rows(
            `SELECT p.* FROM ${this.t('port')} p JOIN ${this.t('ip_allocation')} a ON a.port_id = p.id WHERE p.device_id = $1 AND p.device_owner = $2 AND a.subnet_id = $3 LIMIT 1`,
            [id, ROUTER_INTERFACE, isUuid(b.subnet_id) ? b.subnet_id : null],
          )
        )[0];
        if (!port) throw notFound('RouterInterfaceNotFoundForSubnet', `Router ${id} has no interface on subnet ${String(b.subnet_id)}.`);
      }
      const subnetIds = (await tx.rows<{ subnet_id: string }>(`SELECT subnet_id FROM ${this.t('ip_allocation')} WHERE port_id = $1`, [port.id])).map((x) => x.subnet_id);
      const fip = await tx.rows(
        `SELECT f.id FROM ${this.t('floatingip')} f JOIN ${this.t('ip_allocation')} a ON a.port_id = f.port_id AND a.ip_address = f.fixed_ip_address WHERE f.router_id = $1 AND a.subnet_id = ANY($2::uuid[]) LIMIT 1`,
        [id, subnetIds],
      );
      if (fip.length) throw conflict('RouterInterfaceInUseByFloatingIP', `Router interface for subnet ${subnetIds[0]!} on router ${id} cannot be deleted, as it is required by one or more floating IPs (${fip[0]!.id as string}).`);
      await this.ports.deleteIn(tx, port.id as string, c.requestId);
      await tx.exec(`UPDATE ${this.t('router')} SET revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, [id]);
      await this.emit(tx, 'router.updated', id, c);
      return { id, tenant_id: r.project_id, project_id: r.project_id, subnet_id: subnetIds[0] ?? null, subnet_ids: subnetIds, port_id: port.id, network_id: port.network_id };
    });
  }
}
