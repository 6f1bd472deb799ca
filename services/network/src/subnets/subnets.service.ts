import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, int, invalidInput, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { type Cidr, cidrContains, cidrsOverlap, defaultPools, formatCidr, formatIp, parseCidr, parseIp, type Range } from '../ipam/ip.js';
import { NetworksService, updateRow } from '../networks/networks.service.js';
import { SubnetPoolsService } from '../subnetpools/subnetpools.service.js';

const CREATE_KEYS = [
  'name', 'description', 'network_id', 'ip_version', 'cidr', 'gateway_ip', 'allocation_pools', 'dns_nameservers', 'host_routes', 'enable_dhcp',
  'ipv6_ra_mode', 'ipv6_address_mode', 'tags', 'tenant_id', 'project_id', 'subnetpool_id', 'prefixlen', 'use_default_subnetpool', 'segment_id', 'service_types', 'dns_publish_fixed_ip',
] as const;
const UPDATE_KEYS = ['name', 'description', 'gateway_ip', 'allocation_pools', 'dns_nameservers', 'host_routes', 'enable_dhcp', 'tags', 'service_types', 'segment_id', 'dns_publish_fixed_ip'] as const;
const V6_MODES = ['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'];

export function renderSubnet(r: Row): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    network_id: r.network_id,
    ip_version: Number(r.ip_version),
    cidr: r.cidr,
    gateway_ip: r.gateway_ip ?? null,
    allocation_pools: r.allocation_pools,
    dns_nameservers: r.dns_nameservers,
    host_routes: r.host_routes,
    enable_dhcp: r.enable_dhcp,
    ipv6_ra_mode: r.ipv6_ra_mode ?? null,
    ipv6_address_mode: r.ipv6_address_mode ?? null,
    subnetpool_id: r.subnetpool_id ?? null,
    segment_id: null,
    service_types: [],
    ...std(r),
  };
}

function ipOf(v: unknown, version: 4 | 6, what: string): bigint {
  const ip = parseIp(v);
  if (!ip) throw invalidInput(`'${String(v)}' is not a valid IP address for ${what}.`);
  if (ip.version !== version) throw invalidInput(`${what} ${String(v)} is an IPv${ip.version} address, but the subnet is IPv${version}.`);
  return ip.value;
}

function gatewayOf(v: unknown, cidr: Cidr): bigint | null {
  if (v === null) return null;
  const gw = ipOf(v, cidr.version, 'gateway_ip');
  if (!cidrContains(cidr, cidr.version, gw)) throw nerr(400, 'InvalidInput', `Invalid input for operation: Gateway ${String(v)} is not inside the subnet's CIDR ${formatCidr(cidr)}; pick an address in it or pass gateway_ip null.`);
  if (gw === cidr.base && cidr.version === 4 && cidr.prefix < 31) throw invalidInput(`Gateway ${String(v)} is the network address of ${formatCidr(cidr)}.`);
  if (cidr.version === 4 && cidr.prefix < 31 && gw === cidr.base + cidr.size - 1n) throw invalidInput(`Gateway ${String(v)} is the broadcast address of ${formatCidr(cidr)}.`);
  return gw;
}

function poolsOf(v: unknown, cidr: Cidr): Range[] {
  if (!Array.isArray(v)) throw invalidInput('allocation_pools must be a list of {"start", "end"} objects.');
  const pools = v.map((p: unknown) => {
    const o = (p ?? {}) as Record<string, unknown>;
    if (typeof o !== 'object' || o.start === undefined || o.end === undefined) throw invalidInput('each allocation pool needs "start" and "end".');
    const start = ipOf(o.start, cidr.version, 'allocation pool start');
    const end = ipOf(o.end, cidr.version, 'allocation pool end');
    if (start > end) throw nerr(400, 'InvalidAllocationPool', `The allocation pool ${String(o.start)}-${String(o.end)} is not valid: its start is after its end.`);
    if (!cidrContains(cidr, cidr.version, start) || !cidrContains(cidr, cidr.version, end)) {
      throw nerr(400, 'OutOfBoundsAllocationPool', `The allocation pool ${String(o.start)}-${String(o.end)} spans beyond the subnet cidr ${formatCidr(cidr)}.`);
    }
    return { start, end };
  });
  const sorted = [...pools].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.end) throw nerr(400, 'OverlappingAllocationPools', 'Found overlapping allocation pools; make them disjoint.');
  }
  return pools;
}

const poolsJson = (version: 4 | 6, pools: Range[]) => pools.map((p) => ({ start: formatIp(version, p.start), end: formatIp(version, p.end) }));

function dnsOf(v: unknown, version: 4 | 6): string[] {
  if (!Array.isArray(v)) throw invalidInput('dns_nameservers must be a list of IP addresses.');
  const out = v.map((x) => {
    const ip = parseIp(x);
    if (!ip) throw invalidInput(`'${String(x)}' is not a valid nameserver.`);
    return formatIp(ip.version, ip.value);
  });
  if (new Set(out).size !== out.length) throw invalidInput(`Duplicate nameserver in ${JSON.stringify(v)}.`);
  void version;
  return out;
}

function routesOf(v: unknown, version: 4 | 6): { destination: string; nexthop: string }[] {
  if (!Array.isArray(v)) throw invalidInput('host_routes must be a list of {"destination", "nexthop"} objects.');
  return v.map((x: unknown) => {
    const o = (x ?? {}) as Record<string, unknown>;
    const dest = parseCidr(o.destination);
    const hop = parseIp(o.nexthop);
    if (!dest || !hop) throw invalidInput(`host route ${JSON.stringify(x)} needs a CIDR destination and an IP nexthop.`);
    if (dest.version !== version || hop.version !== version) throw invalidInput(`host route ${JSON.stringify(x)} is not IPv${version} like the subnet.`);
    return { destination: formatCidr(dest), nexthop: formatIp(hop.version, hop.value) };
  });
}

@Injectable()
export class SubnetsService {
  constructor(
    readonly core: Core,
    private readonly networks: NetworksService,
    private readonly pools: SubnetPoolsService,
  ) {}

  private t(n: string) {
    return this.core.t(n);
  }

  /** Own subnets, those on own or shared networks (subnets of external networks stay hidden, as in Neutron). */
  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    let pred = 'TRUE';
    if (!c.isAdmin) {
      params.push(c.projectId);
      const p = `$${params.length}`;
      pred = `(s.project_id = ${p} OR n.shared OR n.project_id = ${p})`;
    }
    return sql.rows(`SELECT s.* FROM ${this.t('subnet')} s JOIN ${this.t('network')} n ON n.id = s.network_id WHERE ${pred} AND ${where} ORDER BY s.created_at, s.id`, params);
  }

  async list(c: Caller) {
    return (await this.rows(c)).map(renderSubnet);
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = /^[0-9a-f-]{36}$/i.test(id) ? await this.rows(c, 's.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('SubnetNotFound', `Subnet ${id} could not be found.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return renderSubnet(await this.get(c, id));
  }

  async create(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_subnet');
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) out.push(await this.createOne(tx, c, b));
      return out;
    });
    const rows = await this.rows(c, 's.id = ANY($1::uuid[])', [ids]);
    return ids.map((id) => renderSubnet(rows.find((r) => r.id === id)!));
  }

  private async createOne(tx: Sql, c: Caller, b: Record<string, unknown>): Promise<string> {
    checkKeys(b, CREATE_KEYS, 'subnet');
    if (typeof b.network_id !== 'string') throw invalidInput('network_id is required: the network the subnet belongs to.');
    const version = int(b, 'ip_version', 4, 6);
    if (version !== 4 && version !== 6) throw invalidInput(`ip_version must be 4 or 6, not ${String(b.ip_version)}.`);
    const fromPool = b.subnetpool_id !== undefined && b.subnetpool_id !== null;
    if (!fromPool && (b.cidr === undefined || b.cidr === null)) throw nerr(400, 'BadRequest', 'Bad subnets request: a cidr must be specified in the absence of a subnet pool.');
    let cidr: Cidr;
    let poolId: string | null = null;
    if (fromPool) {
      const got = await this.pools.allocate(tx, c, String(b.subnetpool_id), version, b.cidr, b.prefixlen);
      cidr = got.cidr;
      poolId = got.poolId;
    } else {
      const parsed = parseCidr(b.cidr);
      if (!parsed) throw invalidInput(`'${String(b.cidr)}' is not a valid IP subnet.`);
      cidr = parsed;
      if (cidr.version !== version) throw invalidInput(`cidr ${String(b.cidr)} is an IPv${cidr.version} CIDR, but ip_version is ${version}.`);
      if (parseCidr(b.cidr, true) === null) throw invalidInput(`'${String(b.cidr)}' isn't a recognized IP subnet cidr, '${formatCidr(cidr)}' is recommended.`);
    }
    if ((version === 4 && cidr.prefix > 30) || (version === 6 && cidr.prefix > 126)) throw invalidInput(`cidr ${String(b.cidr)} is too small to hold a gateway and addresses.`);
    const ra = (b.ipv6_ra_mode ?? null) as string | null;
    const am = (b.ipv6_address_mode ?? null) as string | null;
    for (const [k, v] of [['ipv6_ra_mode', ra], ['ipv6_address_mode', am]] as const) {
      if (v !== null && !V6_MODES.includes(v)) throw invalidInput(`${k} '${v}' is not one of ${V6_MODES.join(', ')}.`);
      if (v !== null && version === 4) throw invalidInput(`${k} is set to '${v}' with ip_version set to 4. Cannot enable ipv6 attributes for an IPv4 subnet.`);
    }
    if (ra && am && ra !== am) throw invalidInput(`ipv6_ra_mode set to '${ra}' with ipv6_address_mode set to '${am}' is not valid. If both attributes are set, they must be the same value.`);
    if ((am === 'slaac' || am === 'dhcpv6-stateless') && cidr.prefix !== 64) throw invalidInput(`Invalid CIDR ${formatCidr(cidr)} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64.`);

    const net = await this.networks.get(c, b.network_id, tx, true);
    if (!c.isAdmin && net.project_id !== c.projectId) throw policyRefused('create_subnet');
    const project = ownerFor(c, b);

    const gw = b.gateway_ip === undefined ? cidr.base + 1n : gatewayOf(b.gateway_ip, cidr);
    const pools = b.allocation_pools === undefined || b.allocation_pools === null ? defaultPools(cidr, gw) : poolsOf(b.allocation_pools, cidr);
    if (gw !== null && pools.some((p) => gw >= p.start && gw <= p.end)) {
      throw conflict('GatewayConflictWithAllocationPools', `Gateway ip ${formatIp(version, gw)} conflicts with allocation pool ${poolsJson(version, pools.filter((p) => gw >= p.start && gw <= p.end)).map((p) => `${p.start}-${p.end}`).join(', ')}.`);
    }
    const others = await tx.rows<{ id: string; cidr: string }>(`SELECT id, cidr FROM ${this.t('subnet')} WHERE network_id = $1`, [net.id]);
    for (const o of others) {
      if (cidrsOverlap(parseCidr(o.cidr)!, cidr)) {
        throw invalidInput(`Requested subnet with cidr: ${formatCidr(cidr)} for network: ${net.id as string} overlaps with another subnet (${o.id}, ${o.cidr}).`);
      }
    }
    await this.core.checkQuota(tx, project, 'subnet');
    const id = randomUUID();
    await tx.exec(
      `INSERT INTO ${this.t('subnet')} (id, project_id, name, description, network_id, ip_version, cidr, gateway_ip, allocation_pools, dns_nameservers, host_routes, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, tags, subnetpool_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        id, project, str(b, 'name') ?? '', str(b, 'description') ?? '', net.id, version, formatCidr(cidr), gw === null ? null : formatIp(version, gw),
        JSON.stringify(poolsJson(version, pools)), JSON.stringify(b.dns_nameservers == null ? [] : dnsOf(b.dns_nameservers, version)),
        JSON.stringify(b.host_routes == null ? [] : routesOf(b.host_routes, version)), bool(b, 'enable_dhcp') ?? true, ra, am, tagsOf(b) ?? [], poolId,
      ],
    );
    return id;
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_subnet');
    for (const k of ['cidr', 'ip_version', 'network_id', 'ipv6_ra_mode', 'ipv6_address_mode']) {
      if (k in b) throw invalidInput(`Cannot update read-only attribute ${k}.`);
    }
    checkKeys(b, UPDATE_KEYS, 'subnet');
    await this.core.tx(async (tx) => {
      const s = await this.get(c, id, tx);
      if (!c.isAdmin && s.project_id !== c.projectId) throw policyRefused('update_subnet');
      const cidr = parseCidr(s.cidr)!;
      const set: Record<string, unknown> = {};
      if (b.name !== undefined) set.name = str(b, 'name');
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.enable_dhcp !== undefined) set.enable_dhcp = bool(b, 'enable_dhcp');
      if (b.tags !== undefined) set.tags = tagsOf(b);
      if (b.dns_nameservers !== undefined) set.dns_nameservers = b.dns_nameservers === null ? [] : dnsOf(b.dns_nameservers, cidr.version);
      if (b.host_routes !== undefined) set.host_routes = b.host_routes === null ? [] : routesOf(b.host_routes, cidr.version);
      let gw = s.gateway_ip === null ? null : parseIp(s.gateway_ip)!.value;
      if (b.gateway_ip !== undefined) {
        gw = gatewayOf(b.gateway_ip, cidr);
        set.gateway_ip = gw === null ? null : formatIp(cidr.version, gw);
      }
      let pools = (s.allocation_pools as { start: string; end: string }[]).map((p) => ({ start: parseIp(p.start)!.value, end: parseIp(p.end)!.value }));
      if (b.allocation_pools !== undefined) {
        pools = poolsOf(b.allocation_pools, cidr);
        set.allocation_pools = poolsJson(cidr.version, pools);
      }
      if (gw !== null && pools.some((p) => gw! >= p.start && gw! <= p.end)) throw conflict('GatewayConflictWithAllocationPools', `Gateway ip ${formatIp(cidr.version, gw)} conflicts with an allocation pool.`);
      await updateRow(tx, this.t('subnet'), id, set, ['allocation_pools', 'dns_nameservers', 'host_routes']);
    });
    return this.show(c, id);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_subnet');
    await this.core.tx(async (tx) => {
      const s = await this.get(c, id, tx);
      if (!c.isAdmin && s.project_id !== c.projectId) throw policyRefused('delete_subnet');
      if (s.ipv6_address_mode === 'slaac' || s.ipv6_address_mode === 'dhcpv6-stateless') {
        // SLAAC addresses are derived, not handed out: Neutron drops them from ordinary ports with the subnet.
        const touched = await tx.rows<{ port_id: string; project_id: string }>(
          `DELETE FROM ${this.t('ip_allocation')} a USING ${this.t('port')} p WHERE a.subnet_id = $1 AND p.id = a.port_id AND p.device_owner NOT IN ('network:router_interface', 'network:router_gateway') RETURNING a.port_id, p.project_id`,
          [id],
        );
        for (const p of touched) await this.core.emit(tx, 'port.updated', p.project_id, p.port_id, { id: p.port_id, removed_subnet_id: id }, c.requestId);
      }
      const used = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.t('ip_allocation')} WHERE subnet_id = $1`, [id]);
      if (Number(used[0]!.n) > 0) throw conflict('SubnetInUse', `Unable to complete operation on subnet ${id}: one or more ports have an IP allocation from this subnet (${used[0]!.n}). Delete them or remove the router interface first.`);
      await tx.exec(`DELETE FROM ${this.t('subnet')} WHERE id = $1`, [id]);
    });
  }
}
