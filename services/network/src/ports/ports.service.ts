import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, invalidInput, isUuid, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { allocateAny, allocateSpecific, insertWithMac, type IpamSubnet, ipamSubnetOf, isAutoAddress, normalizeMac } from '../ipam/allocator.js';
import { cidrContains, formatCidr, parseCidr, parseIp } from '../ipam/ip.js';
import { NetworksService, updateRow } from '../networks/networks.service.js';

const CREATE_KEYS = [
  'name', 'description', 'network_id', 'admin_state_up', 'mac_address', 'fixed_ips', 'device_id', 'device_owner', 'security_groups', 'allowed_address_pairs',
  'port_security_enabled', 'binding:host_id', 'binding:vnic_type', 'binding:profile', 'tags', 'tenant_id', 'project_id', 'extra_dhcp_opts', 'dns_name', 'qos_policy_id', 'propagate_uplink_status',
] as const;
const UPDATE_KEYS = CREATE_KEYS.filter((k) => !['network_id', 'tenant_id', 'project_id'].includes(k));

/** Owners whose ports the API manages itself (router interfaces/gateways, floating IPs). */
export const ROUTER_INTERFACE = 'network:router_interface';
export const ROUTER_GATEWAY = 'network:router_gateway';
export const FLOATINGIP_OWNER = 'network:floatingip';
const MANAGED_OWNERS = [ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATINGIP_OWNER];

export interface PortExtras {
  fixedIps: Map<string, { subnet_id: string; ip_address: string }[]>;
  groups: Map<string, string[]>;
}

export function renderPort(r: Row, x: PortExtras, admin: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: r.id,
    name: r.name,
    description: r.description,
    network_id: r.network_id,
    admin_state_up: r.admin_state_up,
    status: r.status,
    mac_address: r.mac_address,
    fixed_ips: x.fixedIps.get(r.id as string) ?? [],
    device_id: r.device_id,
    device_owner: r.device_owner,
    security_groups: x.groups.get(r.id as string) ?? [],
    allowed_address_pairs: r.allowed_address_pairs,
    extra_dhcp_opts: [],
    port_security_enabled: r.port_security_enabled,
    'binding:vnic_type': r.vnic_type,
    dns_name: '',
    dns_assignment: [],
    qos_policy_id: null,
    qos_network_policy_id: null,
    propagate_uplink_status: false,
    ip_allocation: 'immediate',
    ...std(r),
  };
  // Binding details name hypervisor hosts: admins only, as in Neutron.
  if (admin) {
    out['binding:host_id'] = r.host_id;
    out['binding:vif_type'] = r.vif_type;
    out['binding:vif_details'] = r.vif_type === 'bridge' ? { port_filter: true, connectivity: 'l2' } : {};
    out['binding:profile'] = r.binding_profile ?? {};
  }
  return out;
}

const OPEN = Buffer.from('{"ports":[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']}');

function extrasOf(rows: Row[]): PortExtras {
  const x: PortExtras = { fixedIps: new Map(), groups: new Map() };
  for (const r of rows) {
    x.fixedIps.set(r.id as string, r.x_fixed_ips as { subnet_id: string; ip_address: string }[]);
    x.groups.set(r.id as string, r.x_groups as string[]);
  }
  return x;
}

function pairsOf(v: unknown): { ip_address: string; mac_address?: string }[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw invalidInput('allowed_address_pairs must be a list of {"ip_address", "mac_address"} objects.');
  return v.map((p: unknown) => {
    const o = (p ?? {}) as Record<string, unknown>;
    const cidr = parseCidr(o.ip_address);
    if (!cidr) throw invalidInput(`allowed address pair ${JSON.stringify(p)} needs an ip_address (an IP or CIDR).`);
    const ip = typeof o.ip_address === 'string' && o.ip_address.includes('/') ? formatCidr(cidr) : String(parseIp(o.ip_address) ? o.ip_address : formatCidr(cidr));
    return o.mac_address === undefined || o.mac_address === null ? { ip_address: ip } : { ip_address: ip, mac_address: normalizeMac(o.mac_address) };
  });
}

/** What creating a port needs besides the body: who asks, and whether the API itself does (router/FIP ports). */
export interface PortCreateOpts {
  internal?: boolean;
  createdForServer?: boolean;
}

@Injectable()
export class PortsService {
  constructor(
    readonly core: Core,
    private readonly networks: NetworksService,
  ) {}

  private t(n: string) {
    return this.core.t(n);
  }

  /** Ports of the caller's project and ports on networks it owns (admin: all). */
  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    const pred = this.visible(c, params);
    return sql.rows(`SELECT p.* FROM ${this.t('port')} p WHERE ${pred} AND ${where} ORDER BY p.created_at, p.id`, params);
  }

  async extras(rows: Row[], sql: Sql = this.core.db): Promise<PortExtras> {
    const ids = rows.map((r) => r.id);
    const fixedIps = new Map<string, { subnet_id: string; ip_address: string }[]>();
    const groups = new Map<string, string[]>();
    if (!ids.length) return { fixedIps, groups };
    const ips = await sql.rows<{ port_id: string; subnet_id: string; ip_address: string }>(
      `SELECT a.port_id, a.subnet_id, a.ip_address FROM ${this.t('ip_allocation')} a JOIN ${this.t('subnet')} s ON s.id = a.subnet_id WHERE a.port_id = ANY($1::uuid[]) ORDER BY s.ip_version, s.created_at, a.ip_address`,
      [ids],
    );
    for (const a of ips) fixedIps.set(a.port_id, [...(fixedIps.get(a.port_id) ?? []), { subnet_id: a.subnet_id, ip_address: a.ip_address }]);
    const sgs = await sql.rows<{ port_id: string; security_group_id: string }>(`SELECT port_id, security_group_id FROM ${this.t('port_security_group')} WHERE port_id = ANY($1::uuid[]) ORDER BY security_group_id`, [ids]);
    for (const g of sgs) groups.set(g.port_id, [...(groups.get(g.port_id) ?? []), g.security_group_id]);
    return { fixedIps, groups };
  }

  async render(c: Caller, rows: Row[], sql: Sql = this.core.db) {
    const x = await this.extras(rows, sql);
    const out = rows.map((r) => renderPort(r, x, c.isAdmin));
    // Write-through: the next list need not render these again. Safe because `render_gen` was
    // read with the row and the addresses/groups after it — if they changed in between, the
    // row's generation has moved on too and this entry is never served.
    rows.forEach((r, i) => this.remember(r, c.isAdmin ? 'admin' : 'user', Buffer.from(JSON.stringify(out[i]))));
    return out;
  }

  private remember(r: Row, slot: 'admin' | 'user', body: Buffer): void {
    if (r.render_gen === undefined || r.render_gen === null) return;
    const id = r.id as string;
    const gen = String(r.render_gen);
    const prev = this.rendered.get(id);
    const entry = prev && prev.gen === gen ? prev : { gen };
    entry[slot] = body;
    this.rendered.delete(id);
    this.rendered.set(id, entry);
    if (this.rendered.size > PortsService.RENDER_CACHE_MAX) {
      for (const key of this.rendered.keys()) {
        if (this.rendered.size <= PortsService.RENDER_CACHE_MAX) break;
        this.rendered.delete(key);
      }
    }
  }

  /**
   * Rendered ports as JSON text, by id, valid while the port's `render_gen` is unchanged (the
   * database bumps it on any change to the port, its fixed IPs or its groups — see
   * PortRenderGeneration). Bounded: the oldest entries go first.
   */
  private readonly rendered = new Map<string, { gen: string; user?: Buffer; admin?: Buffer }>();
  static readonly RENDER_CACHE_MAX = 50_000;

  /**
   * `GET /v2.0/ports` in its most common forms (no query, or `device_id`/`network_id`) as the
   * response text: one narrow query for ids and generations, rendering only for ports that
   * changed since they were last served. Same ports, same order (by id) and same bodies as
   * `list()` + `listResponse()`.
   */
  async listJson(c: Caller, filters: { deviceId?: string; networkId?: string } = {}): Promise<Buffer> {
    // Bytes, not a string: a 200-port list is ~180 KB, and handing Node one buffer skips
    // re-encoding it to UTF-8 on every response.
    const parts = await this.renderedTexts(c, filters);
    const out: Buffer[] = [OPEN];
    for (let i = 0; i < parts.length; i++) {
      if (i) out.push(COMMA);
      out.push(parts[i]!);
    }
    out.push(CLOSE);
    return Buffer.concat(out);
  }

  /** The caller's ports (filtered as `listJson`) as objects, for the generic list path. */
  async list(c: Caller, filters: { deviceId?: string; networkId?: string } = {}): Promise<Record<string, unknown>[]> {
    return (await this.renderedTexts(c, filters)).map((t) => JSON.parse(t.toString('utf8')) as Record<string, unknown>);
  }

  /** Each visible port's body as JSON text, by id: one narrow query, rendering only what changed. */
  private async renderedTexts(c: Caller, filters: { deviceId?: string; networkId?: string }): Promise<Buffer[]> {
    if (filters.networkId !== undefined && !isUuid(filters.networkId)) return [];
    const { where, params } = this.scope(c, filters);
    const heads = await this.core.db.rows<{ id: string; g: string }>(`SELECT p.id, p.render_gen AS g FROM ${this.t('port')} p WHERE ${where} ORDER BY p.id`, params);
    const slot = c.isAdmin ? 'admin' : 'user';
    const stale = heads.filter((h) => {
      const e = this.rendered.get(h.id);
      return !e || e.gen !== h.g || e[slot] === undefined;
    });
    if (stale.length) {
      const rows = await this.fullRows('p.id = ANY($1::uuid[])', [stale.map((h) => h.id)]);
      const x = extrasOf(rows);
      for (const r of rows) this.remember(r, slot, Buffer.from(JSON.stringify(renderPort(r, x, c.isAdmin))));
    }
    // A port deleted between the two queries has no entry any more: it is left out, as if the
    // list had been read a moment later.
    const out: Buffer[] = [];
    for (const h of heads) {
      const text = this.rendered.get(h.id)?.[slot];
      if (text !== undefined) out.push(text);
    }
    return out;
  }

  private scope(c: Caller, filters: { deviceId?: string; networkId?: string }) {
    const where: string[] = ['TRUE'];
    const params: unknown[] = [];
    if (filters.deviceId !== undefined) where.push(`p.device_id = $${params.push(filters.deviceId)}`);
    if (filters.networkId !== undefined && isUuid(filters.networkId)) where.push(`p.network_id = $${params.push(filters.networkId)}`);
    where.push(this.visible(c, params));
    return { where: where.join(' AND '), params };
  }

  /** The ports `c` may see (its project's, and any on a network it owns; admin: all), as a predicate on `p`; pushes its parameter. */
  private visible(c: Caller, params: unknown[]): string {
    if (c.isAdmin) return 'TRUE';
    const me = `$${params.push(c.projectId)}`;
    return `(p.project_id = ${me} OR p.network_id IN (SELECT id FROM ${this.t('network')} WHERE project_id = ${me}))`;
  }

  /** Port rows with their addresses and groups aggregated by PostgreSQL (one round trip). */
  private fullRows(where: string, params: unknown[]): Promise<Row[]> {
    return this.core.db.rows(
      `SELECT p.*,
         COALESCE((SELECT json_agg(json_build_object('subnet_id', a.subnet_id, 'ip_address', a.ip_address) ORDER BY s.ip_version, s.created_at, a.ip_address)
                   FROM ${this.t('ip_allocation')} a JOIN ${this.t('subnet')} s ON s.id = a.subnet_id WHERE a.port_id = p.id), '[]') AS x_fixed_ips,
         COALESCE((SELECT array_agg(g.security_group_id::text ORDER BY g.security_group_id) FROM ${this.t('port_security_group')} g WHERE g.port_id = p.id), '{}') AS x_groups
       FROM ${this.t('port')} p WHERE ${where} ORDER BY p.created_at, p.id`,
      params,
    );
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.rows(c, 'p.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('PortNotFound', `Port ${id} could not be found.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return (await this.render(c, [await this.get(c, id)]))[0]!;
  }

  async owned(c: Caller, id: string, action: string, sql: Sql = this.core.db): Promise<Row> {
    const p = await this.get(c, id, sql);
    if (!c.isAdmin && p.project_id !== c.projectId) throw policyRefused(action);
    return p;
  }

  async create(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_port');
    for (const b of bodies) checkKeys(b, CREATE_KEYS, 'port');
    // The default group is made in its own transaction first, so port transactions never race to create it.
    const owners = new Set(bodies.filter((b) => b.security_groups === undefined).map((b) => (b.project_id ?? b.tenant_id ?? c.projectId) as string | null));
    for (const owner of owners) if (typeof owner === 'string' && owner) await this.core.ensureDefaultGroup(owner);
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) out.push(await this.createIn(tx, c, b));
      return out;
    });
    const rows = await this.rows(c, 'p.id = ANY($1::uuid[])', [ids]);
    return this.render(c, ids.map((id) => rows.find((r) => r.id === id)!));
  }

  /** Creates one port inside `tx` (also used by routers, floating IPs and compute's RPCs). */
  async createIn(tx: Sql, c: Caller, b: Record<string, unknown>, opts: PortCreateOpts = {}): Promise<string> {
    if (typeof b.network_id !== 'string') throw invalidInput('network_id is required: the network the port belongs to.');
    const net = opts.internal ? await this.networks.get({ ...c, isAdmin: true }, b.network_id, tx) : await this.networks.get(c, b.network_id, tx);
    const project = opts.internal ? ((b.project_id as string | undefined) ?? c.projectId ?? '') : ownerFor(c, b);
    if (!opts.internal && !c.isAdmin && net.project_id !== c.projectId && !net.shared) {
      throw policyRefused('create_port:network_id (the network is external and not shared: use a floating IP or a router gateway)');
    }
    if (!opts.internal && !c.isAdmin && b['binding:host_id'] !== undefined) throw policyRefused('create_port:binding:host_id');
    const deviceOwner = str(b, 'device_owner') ?? '';
    if (!opts.internal && MANAGED_OWNERS.includes(deviceOwner) && !c.isAdmin) throw policyRefused(`create_port:device_owner (${deviceOwner} ports are made by routers and floating IPs)`);
    const portSecurity = bool(b, 'port_security_enabled') ?? (net.port_security_enabled as boolean);
    const pairs = b.allowed_address_pairs === undefined ? [] : pairsOf(b.allowed_address_pairs);
    if (pairs.length && !portSecurity) throw conflict('AddressPairAndPortSecurityRequired', 'Port security must be enabled in order to have allowed address pairs on a port.');
    const mac = b.mac_address === undefined || b.mac_address === null ? null : normalizeMac(b.mac_address);

    const id = randomUUID();
    const host = (str(b, 'binding:host_id') ?? '').trim();
    const status = deviceOwner === FLOATINGIP_OWNER ? 'N/A' : deviceOwner === ROUTER_INTERFACE || deviceOwner === ROUTER_GATEWAY ? 'ACTIVE' : 'DOWN';
    const vnic = str(b, 'binding:vnic_type') ?? 'normal';
    if (!['normal', 'direct', 'macvtap', 'baremetal', 'direct-physical', 'virtio-forwarder', 'smart-nic', 'remote-managed', 'vdpa'].includes(vnic)) throw invalidInput(`binding:vnic_type '${vnic}' is not supported.`);
    const macUsed = await insertWithMac(tx, mac, async (m) => {
      await tx.exec(
        `INSERT INTO ${this.t('port')} (id, project_id, name, description, network_id, admin_state_up, status, mac_address, device_id, device_owner, host_id, vif_type, vnic_type, binding_profile, port_security_enabled, allowed_address_pairs, created_for_server, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
        [
          id, project, str(b, 'name') ?? '', str(b, 'description') ?? '', net.id, bool(b, 'admin_state_up') ?? true, status, m, str(b, 'device_id') ?? '', deviceOwner, host,
          host ? 'bridge' : 'unbound', vnic, JSON.stringify(b['binding:profile'] ?? {}), portSecurity, JSON.stringify(pairs), opts.createdForServer === true, tagsOf(b) ?? [],
        ],
      );
    });
    await this.assignIps(tx, net.id as string, id, macUsed, b.fixed_ips, []);

    let groups: string[] = [];
    if (b.security_groups !== undefined && b.security_groups !== null) {
      groups = await this.groupsOf(tx, c, project, b.security_groups);
    } else if (portSecurity && !deviceOwner.startsWith('network:') && project) {
      groups = [await this.core.ensureDefaultGroup(project, tx)];
    }
    if (groups.length && !portSecurity) throw nerr(400, 'PortSecurityAndIPRequiredForSecurityGroups', 'Port security must be enabled and port must have an IP address in order to use security groups.');
    for (const g of groups) await tx.exec(`INSERT INTO ${this.t('port_security_group')} (port_id, security_group_id) VALUES ($1, $2)`, [id, g]);
    // Quota last: the count includes this port, and the per-project lock is held only from here
    // to commit, so concurrent creates do their IPAM and inserts in parallel.
    if (!opts.internal && project) await this.core.checkQuota(tx, project, 'port', 0);
    await this.emitPort(tx, 'port.created', id, c.requestId);
    return id;
  }

  async emitPort(tx: Sql, event: 'port.created' | 'port.updated' | 'port.deleted', id: string, requestId?: string, row?: Row): Promise<void> {
    const r = row ?? (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1`, [id]))[0]!;
    const port = renderPort(r, await this.extras([r], tx), true);
    await this.core.emit(tx, event, r.project_id as string, id, port, requestId);
  }

  /** Resolves security group ids the project may use (own; admin any). */
  async groupsOf(tx: Sql, c: Caller, project: string, v: unknown): Promise<string[]> {
    if (!Array.isArray(v) || v.some((g) => typeof g !== 'string')) throw invalidInput('security_groups must be a list of security group ids.');
    const ids = [...new Set(v as string[])];
    for (const g of ids) {
      const rows = isUuid(g) ? await tx.rows<{ project_id: string }>(`SELECT project_id FROM ${this.t('security_group')} WHERE id = $1`, [g]) : [];
      if (!rows[0] || (!c.isAdmin && rows[0].project_id !== project)) throw notFound('SecurityGroupNotFound', `Security group ${g} does not exist.`);
    }
    return ids;
  }

  /**
   * Sets the port's fixed IPs to what `requested` asks for (undefined: one address from each
   * kind of subnet, Neutron's default). Addresses the port already has and still asks for are
   * kept; the others are released.
   */
  async assignIps(tx: Sql, networkId: string, portId: string, mac: string, requested: unknown, current: { subnet_id: string; ip_address: string }[]): Promise<void> {
    const subnets = (await tx.rows(`SELECT * FROM ${this.t('subnet')} WHERE network_id = $1 ORDER BY created_at, id`, [networkId])).map(ipamSubnetOf);
    const keep = new Set<string>();
    if (requested === undefined) {
      // One IPv4 address (first subnet with room), every SLAAC address, one stateful IPv6 address.
      let gotV4 = false;
      let gotV6 = false;
      let lastErr: unknown;
      for (const s of subnets) {
        if (isAutoAddress(s)) {
          await allocateAny(tx, this.t.bind(this), s, portId, mac);
          continue;
        }
        if ((s.version === 4 && gotV4) || (s.version === 6 && gotV6)) continue;
        try {
          await allocateAny(tx, this.t.bind(this), s, portId, mac);
          if (s.version === 4) gotV4 = true;
          else gotV6 = true;
        } catch (err) {
          lastErr = err;
        }
      }
      const hasV4 = subnets.some((s) => s.version === 4);
      const hasV6 = subnets.some((s) => s.version === 6 && !isAutoAddress(s));
      if ((hasV4 && !gotV4) || (hasV6 && !gotV6 && !hasV4)) throw lastErr ?? conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);
      return;
    }
    if (!Array.isArray(requested)) throw invalidInput('fixed_ips must be a list of {"subnet_id", "ip_address"} objects.');
    const bySubnet = (id: unknown): IpamSubnet => {
      const s = subnets.find((x) => x.id === id);
      if (!s) throw nerr(400, 'InvalidInput', `Invalid input for operation: Failed to create port on network ${networkId}, because fixed_ips included invalid subnet ${String(id)}.`);
      return s;
    };
    const plan: { subnet: IpamSubnet; ip?: string }[] = [];
    for (const raw of requested) {
      const f = (raw ?? {}) as Record<string, unknown>;
      if (typeof f !== 'object' || (f.subnet_id === undefined && f.ip_address === undefined)) throw invalidInput('each fixed_ips entry needs a subnet_id, an ip_address or both.');
      for (const k of Object.keys(f)) if (k !== 'subnet_id' && k !== 'ip_address') throw invalidInput(`Unrecognized key ${k} in fixed_ips.`);
      if (f.ip_address !== undefined) {
        const ip = parseIp(f.ip_address);
        if (!ip) throw invalidInput(`'${String(f.ip_address)}' is not a valid IP address.`);
        const s = f.subnet_id !== undefined ? bySubnet(f.subnet_id) : subnets.find((x) => cidrContains(x.cidr, ip.version, ip.value));
        if (!s) throw nerr(400, 'InvalidIpForNetwork', `IP address ${String(f.ip_address)} is not a valid IP for any of the subnets on the specified network ${networkId}.`);
        plan.push({ subnet: s, ip: String(f.ip_address) });
      } else plan.push({ subnet: bySubnet(f.subnet_id) });
    }
    const mine = new Map(current.map((a) => [a.ip_address, a]));
    for (const p of plan) {
      const norm = p.ip ? (parseIp(p.ip) ? p.ip : p.ip) : undefined;
      const existing = norm ? [...mine.values()].find((a) => a.subnet_id === p.subnet.id && parseIp(a.ip_address)?.value === parseIp(norm)?.value) : [...mine.values()].find((a) => a.subnet_id === p.subnet.id && !keep.has(a.ip_address));
      if (existing) {
        keep.add(existing.ip_address);
        continue;
      }
      const ip = norm ? await allocateSpecific(tx, this.t.bind(this), p.subnet, portId, norm) : await allocateAny(tx, this.t.bind(this), p.subnet, portId, mac);
      keep.add(ip);
    }
    for (const a of current) if (!keep.has(a.ip_address)) await tx.exec(`DELETE FROM ${this.t('ip_allocation')} WHERE port_id = $1 AND ip_address = $2`, [portId, a.ip_address]);
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_port');
    checkKeys(b, UPDATE_KEYS, 'port');
    await this.core.tx((tx) => this.updateIn(tx, c, id, b));
    return this.show(c, id);
  }

  async updateIn(tx: Sql, c: Caller, id: string, b: Record<string, unknown>, internal = false): Promise<void> {
    const p = internal ? (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1`, [id]))[0] : await this.owned(c, id, 'update_port', tx);
    if (!p) throw notFound('PortNotFound', `Port ${id} could not be found.`);
    await tx.rows(`SELECT id FROM ${this.t('port')} WHERE id = $1 FOR UPDATE`, [id]);
    const set: Record<string, unknown> = {};
    for (const k of ['name', 'description', 'device_id', 'device_owner'] as const) if (b[k] !== undefined) set[k] = str(b, k);
    if (b.admin_state_up !== undefined) set.admin_state_up = bool(b, 'admin_state_up');
    if (b.tags !== undefined) set.tags = tagsOf(b);
    if (b['binding:vnic_type'] !== undefined) set.vnic_type = str(b, 'binding:vnic_type');
    if (b['binding:host_id'] !== undefined || b['binding:profile'] !== undefined) {
      if (!c.isAdmin && !internal) throw policyRefused('update_port:binding:host_id');
      if (b['binding:host_id'] !== undefined) {
        const host = (str(b, 'binding:host_id') ?? '').trim();
        set.host_id = host;
        set.vif_type = host ? 'bridge' : 'unbound';
        if (!host) set.status = 'DOWN';
      }
      if (b['binding:profile'] !== undefined) set.binding_profile = b['binding:profile'] ?? {};
    }
    if (b.mac_address !== undefined) {
      if (!c.isAdmin) throw policyRefused('update_port:mac_address');
      if (p.host_id) throw conflict('PortBound', `Unable to complete operation on port ${id}: the MAC address of a bound port cannot change; unbind it first.`);
      set.mac_address = normalizeMac(b.mac_address);
    }
    const portSecurity = b.port_security_enabled !== undefined ? bool(b, 'port_security_enabled')! : (p.port_security_enabled as boolean);
    if (b.port_security_enabled !== undefined) set.port_security_enabled = portSecurity;
    let groups: string[] | undefined;
    if (b.security_groups !== undefined) groups = b.security_groups === null ? [] : await this.groupsOf(tx, c, p.project_id as string, b.security_groups);
    const currentGroups = (await tx.rows<{ security_group_id: string }>(`SELECT security_group_id FROM ${this.t('port_security_group')} WHERE port_id = $1`, [id])).map((r) => r.security_group_id);
    if (!portSecurity && (groups ?? currentGroups).length) {
      throw conflict('PortSecurityPortHasSecurityGroups', 'Port has security group associated. Cannot disable port security or ip address until security group is removed.');
    }
    const pairs = b.allowed_address_pairs !== undefined ? pairsOf(b.allowed_address_pairs) : (p.allowed_address_pairs as unknown[]);
    if (b.allowed_address_pairs !== undefined) set.allowed_address_pairs = pairs;
    if (!portSecurity && pairs.length) throw conflict('AddressPairAndPortSecurityRequired', 'Port security must be enabled in order to have allowed address pairs on a port.');
    try {
      await updateRow(tx, this.t('port'), id, set, ['allowed_address_pairs', 'binding_profile']);
    } catch (err) {
      if ((err as { driverError?: { constraint?: string } }).driverError?.constraint === 'port_mac') throw conflict('MacAddressInUse', `Unable to complete operation for port ${id}. The mac address ${String(set.mac_address)} is in use.`);
      throw err;
    }
    if (b.fixed_ips !== undefined) {
      const current = await tx.rows<{ subnet_id: string; ip_address: string }>(`SELECT subnet_id, ip_address FROM ${this.t('ip_allocation')} WHERE port_id = $1`, [id]);
      await this.assignIps(tx, p.network_id as string, id, (set.mac_address as string) ?? (p.mac_address as string), b.fixed_ips ?? [], current);
    }
    if (groups) {
      await tx.exec(`DELETE FROM ${this.t('port_security_group')} WHERE port_id = $1`, [id]);
      for (const g of groups) await tx.exec(`INSERT INTO ${this.t('port_security_group')} (port_id, security_group_id) VALUES ($1, $2)`, [id, g]);
    }
    await this.emitPort(tx, 'port.updated', id, c.requestId);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_port');
    await this.core.tx(async (tx) => {
      const p = await this.owned(c, id, 'delete_port', tx);
      if (MANAGED_OWNERS.includes(p.device_owner as string)) {
        throw conflict('L3PortInUse', `Port ${id} has owner ${p.device_owner as string} and therefore cannot be deleted directly via the port API; remove the router interface/gateway or floating IP instead.`);
      }
      await this.deleteIn(tx, id, c.requestId);
    });
  }

  /** Deletes a port: floating IPs on it are disassociated, its addresses released. */
  async deleteIn(tx: Sql, id: string, requestId?: string): Promise<void> {
    const row = (await tx.rows(`SELECT * FROM ${this.t('port')} WHERE id = $1 FOR UPDATE`, [id]))[0];
    if (!row) return;
    const resource = renderPort(row, await this.extras([row], tx), true);
    const fips = await tx.rows<{ id: string; project_id: string }>(
      `UPDATE ${this.t('floatingip')} SET port_id = NULL, fixed_ip_address = NULL, router_id = NULL, status = 'DOWN', revision_number = revision_number + 1, updated_at = now() WHERE port_id = $1 RETURNING id, project_id`,
      [id],
    );
    for (const f of fips) await this.core.emit(tx, 'floatingip.updated', f.project_id, f.id, { id: f.id, port_id: null, status: 'DOWN' }, requestId);
    await tx.exec(`DELETE FROM ${this.t('port')} WHERE id = $1`, [id]);
    await this.core.emit(tx, 'port.deleted', row.project_id as string, id, resource, requestId);
  }
}
