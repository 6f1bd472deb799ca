import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { type Caller, checkKeys, conflict, invalidInput, isUuid, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, pgCode, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { parseIp } from '../ipam/ip.js';
import { NetworksService, updateRow } from '../networks/networks.service.js';
import { FLOATINGIP_OWNER, PortsService, ROUTER_INTERFACE } from '../ports/ports.service.js';

const CREATE_KEYS = ['floating_network_id', 'floating_ip_address', 'subnet_id', 'port_id', 'fixed_ip_address', 'description', 'tags', 'tenant_id', 'project_id', 'qos_policy_id', 'dns_name', 'dns_domain'] as const;
const UPDATE_KEYS = ['port_id', 'fixed_ip_address', 'description', 'tags', 'qos_policy_id'] as const;

@Injectable()
export class FloatingIpsService {
  constructor(
    readonly core: Core,
    private readonly networks: NetworksService,
    private readonly ports: PortsService,
  ) {}

  private t(n: string) {
    return this.core.t(n);
  }

  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    let pred = 'TRUE';
    if (!c.isAdmin) pred = `f.project_id = $${params.push(c.projectId)}`;
    return sql.rows(`SELECT f.* FROM ${this.t('floatingip')} f WHERE ${pred} AND ${where} ORDER BY f.created_at, f.id`, params);
  }

  async render(rows: Row[], sql: Sql = this.core.db): Promise<Record<string, unknown>[]> {
    const portIds = rows.map((r) => r.port_id).filter(Boolean);
    const ports = portIds.length ? await sql.rows(`SELECT * FROM ${this.t('port')} WHERE id = ANY($1::uuid[])`, [portIds]) : [];
    return rows.map((r) => {
      const p = ports.find((x) => x.id === r.port_id);
      return {
        id: r.id,
        floating_ip_address: r.floating_ip_address,
        floating_network_id: r.floating_network_id,
        subnet_id: r.subnet_id ?? null,
        fixed_ip_address: r.fixed_ip_address ?? null,
        port_id: r.port_id ?? null,
        router_id: r.router_id ?? null,
        status: r.status,
        description: r.description,
        qos_policy_id: null,
        dns_domain: '',
        dns_name: '',
        port_forwardings: [],
        port_details: p
          ? { name: p.name, network_id: p.network_id, mac_address: p.mac_address, admin_state_up: p.admin_state_up, status: p.status, device_id: p.device_id, device_owner: p.device_owner }
          : null,
        ...std(r),
      };
    });
  }

  async list(c: Caller) {
    return this.render(await this.rows(c));
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.rows(c, 'f.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('FloatingIPNotFound', `Floating IP ${id} could not be found.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return (await this.render([await this.get(c, id)]))[0]!;
  }

  private async emit(tx: Sql, event: 'floatingip.created' | 'floatingip.updated' | 'floatingip.deleted', id: string, c: Caller, row?: Row) {
    const r = row ?? (await tx.rows(`SELECT * FROM ${this.t('floatingip')} WHERE id = $1`, [id]))[0]!;
    const [resource] = await this.render([r], tx);
    await this.core.emit(tx, event, r.project_id as string, id, resource!, c.requestId);
  }

  async create(c: Caller, b: Record<string, unknown>) {
    requireWrite(c, 'create_floatingip');
    checkKeys(b, CREATE_KEYS, 'floatingip');
    const project = ownerFor(c, b);
    if (typeof b.floating_network_id !== 'string') throw invalidInput('floating_network_id is required: the external network to take the address from.');
    if (b.floating_ip_address !== undefined && b.floating_ip_address !== null && !c.isAdmin) throw policyRefused('create_floatingip:floating_ip_address');
    const id = randomUUID();
    await this.core.tx(async (tx) => {
      const net = await this.networks.get(c, b.floating_network_id as string, tx);
      if (!net.external) throw nerr(400, 'BadRequest', `Bad floatingip request: Network ${net.id as string} is not a valid external network; use one with router:external=true.`);
      await this.core.checkQuota(tx, project, 'floatingip');
      // The address comes from an IPv4 subnet of the external network (Neutron's floating IPs are IPv4).
      const v4 = await tx.rows<{ id: string }>(`SELECT id FROM ${this.t('subnet')} WHERE network_id = $1 AND ip_version = 4 ORDER BY created_at, id`, [net.id]);
      if (b.subnet_id !== undefined && b.subnet_id !== null && !v4.some((s) => s.id === b.subnet_id)) throw nerr(400, 'BadRequest', `Bad floatingip request: subnet ${String(b.subnet_id)} is not an IPv4 subnet of network ${net.id as string}.`);
      if (!v4.length) throw nerr(400, 'BadRequest', `Bad floatingip request: Network ${net.id as string} does not contain any IPv4 subnet.`);
      let fixed: Record<string, unknown>[] | undefined;
      if (b.floating_ip_address !== undefined && b.floating_ip_address !== null) {
        if (parseIp(b.floating_ip_address)?.version !== 4) throw invalidInput(`'${String(b.floating_ip_address)}' is not a valid IPv4 address.`);
        fixed = [{ ip_address: b.floating_ip_address, ...(b.subnet_id ? { subnet_id: b.subnet_id } : {}) }];
      } else fixed = [{ subnet_id: b.subnet_id ?? v4[0]!.id }];
      let portId: string;
      try {
        portId = await this.ports.createIn(tx, c, { network_id: net.id, device_id: id, device_owner: FLOATINGIP_OWNER, project_id: '', fixed_ips: fixed }, { internal: true });
      } catch (err) {
        const e = err as { status?: number; options?: { type?: string } };
        if (e.options?.type === 'IpAddressAlreadyAllocated') throw conflict('FloatingIPAddressAlreadyAllocated', `Floating IP ${String(b.floating_ip_address)} is already in use.`);
        throw err;
      }
      const ip = (await tx.rows<{ ip_address: string; subnet_id: string }>(`SELECT ip_address, subnet_id FROM ${this.t('ip_allocation')} WHERE port_id = $1 AND subnet_id = ANY($2::uuid[])`, [portId, v4.map((s) => s.id)]))[0]!;
      await tx.exec(
        `INSERT INTO ${this.t('floatingip')} (id, project_id, description, tags, floating_network_id, floating_ip_address, floating_port_id, subnet_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, project, str(b, 'description') ?? '', tagsOf(b) ?? [], net.id, ip.ip_address, portId, ip.subnet_id],
      );
      if (b.port_id !== undefined && b.port_id !== null) await this.associate(tx, c, id, b.port_id, b.fixed_ip_address);
      await this.emit(tx, 'floatingip.created', id, c);
    });
    return this.show(c, id);
  }

  /**
   * Points the floating IP at a port's fixed IPv4 address. The port's subnet must reach the
   * floating IP's external network through a router (interface on that subnet, gateway on that
   * network), or the address could never be NATed: 404 ExternalGatewayForFloatingIPNotFound.
   */
  private async associate(tx: Sql, c: Caller, id: string, portIdRaw: unknown, fixedRaw: unknown): Promise<void> {
    const f = (await tx.rows(`SELECT * FROM ${this.t('floatingip')} WHERE id = $1 FOR UPDATE`, [id]))[0]!;
    const port = await this.ports.get(c, String(portIdRaw), tx);
    if (!c.isAdmin && port.project_id !== f.project_id) throw notFound('PortNotFound', `Port ${String(portIdRaw)} could not be found.`);
    const ips = await tx.rows<{ subnet_id: string; ip_address: string }>(
      `SELECT a.subnet_id, a.ip_address FROM ${this.t('ip_allocation')} a JOIN ${this.t('subnet')} s ON s.id = a.subnet_id WHERE a.port_id = $1 AND s.ip_version = 4 ORDER BY a.ip_address`,
      [port.id],
    );
    let chosen: { subnet_id: string; ip_address: string } | undefined;
    if (fixedRaw !== undefined && fixedRaw !== null) {
      chosen = ips.find((i) => i.ip_address === fixedRaw);
      if (!chosen) throw nerr(400, 'BadRequest', `Bad floatingip request: Port ${port.id as string} does not have fixed ip ${String(fixedRaw)}.`);
    } else {
      if (!ips.length) throw nerr(400, 'BadRequest', `Bad floatingip request: Port ${port.id as string} does not have any IPv4 fixed IP address.`);
      if (ips.length > 1) throw nerr(400, 'BadRequest', `Bad floatingip request: Port ${port.id as string} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP.`);
      chosen = ips[0]!;
    }
    const router = await tx.rows<{ id: string }>(
      `SELECT r.id FROM ${this.t('router')} r JOIN ${this.t('port')} p ON p.device_id = r.id::text AND p.device_owner = $1 JOIN ${this.t('ip_allocation')} a ON a.port_id = p.id
       WHERE r.gw_network_id = $2 AND a.subnet_id = $3 ORDER BY r.created_at LIMIT 1`,
      [ROUTER_INTERFACE, f.floating_network_id, chosen.subnet_id],
    );
    if (!router[0]) {
      throw notFound(
        'ExternalGatewayForFloatingIPNotFound',
        `External network ${f.floating_network_id as string} is not reachable from subnet ${chosen.subnet_id}. Therefore, cannot associate Port ${port.id as string} with a Floating IP. Connect the subnet to a router whose gateway is on that network.`,
      );
    }
    await tx.exec('SAVEPOINT fip');
    try {
      await tx.exec(`UPDATE ${this.t('floatingip')} SET port_id = $2, fixed_ip_address = $3, router_id = $4, status = 'ACTIVE' WHERE id = $1`, [id, port.id, chosen.ip_address, router[0].id]);
      await tx.exec('RELEASE SAVEPOINT fip');
    } catch (err) {
      await tx.exec('ROLLBACK TO SAVEPOINT fip');
      if (pgCode(err) === '23505') throw conflict('FloatingIPPortAlreadyAssociated', `Cannot associate floating IP ${f.floating_ip_address as string} with port ${port.id as string} using fixed IP ${chosen.ip_address}, as that fixed IP already has a floating IP on external network ${f.floating_network_id as string}.`);
      throw err;
    }
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_floatingip');
    checkKeys(b, UPDATE_KEYS, 'floatingip');
    await this.core.tx(async (tx) => {
      await this.get(c, id, tx);
      const set: Record<string, unknown> = {};
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.tags !== undefined) set.tags = tagsOf(b);
      await updateRow(tx, this.t('floatingip'), id, set);
      if (b.port_id !== undefined) {
        if (b.port_id === null) await tx.exec(`UPDATE ${this.t('floatingip')} SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, status = 'DOWN' WHERE id = $1`, [id]);
        else await this.associate(tx, c, id, b.port_id, b.fixed_ip_address);
      }
      await this.emit(tx, 'floatingip.updated', id, c);
    });
    return this.show(c, id);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_floatingip');
    await this.core.tx(async (tx) => {
      const f = await this.get(c, id, tx);
      const [resource] = await this.render([f], tx);
      await tx.exec(`DELETE FROM ${this.t('floatingip')} WHERE id = $1`, [id]);
      await this.ports.deleteIn(tx, f.floating_port_id as string, c.requestId);
      await this.core.emit(tx, 'floatingip.deleted', f.project_id as string, id, resource!, c.requestId);
    });
  }
}
