import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, int, invalidInput, isUuid, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { formatCidr, parseCidr } from '../ipam/ip.js';
import { updateRow } from '../networks/networks.service.js';

const SG_CREATE_KEYS = ['name', 'description', 'stateful', 'tags', 'tenant_id', 'project_id'] as const;
const SG_UPDATE_KEYS = ['name', 'description', 'stateful', 'tags'] as const;
const RULE_KEYS = [
  'security_group_id', 'direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max', 'remote_ip_prefix', 'remote_group_id', 'remote_address_group_id', 'description', 'tenant_id', 'project_id',
] as const;

/** IANA protocol names Neutron accepts, with their numbers. */
const PROTOCOLS: Record<string, number> = { ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, hopopt: 0, icmp: 1, igmp: 2, ipip: 4, ipv6: 41, 'ipv6-encap': 41, 'ipv6-frag': 44, 'ipv6-icmp': 58, icmpv6: 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43, ospf: 89, pgm: 113, rsvp: 46, sctp: 132, tcp: 6, udp: 17, udplite: 136, vrrp: 112 };
const PORTED = new Set(['tcp', 'udp', 'sctp', 'dccp', 'udplite', '6', '17', '132', '33', '136']);
const ICMP = new Set(['icmp', 'ipv6-icmp', 'icmpv6', '1', '58']);

export function renderRule(r: Row): Record<string, unknown> {
  return {
    id: r.id,
    security_group_id: r.security_group_id,
    direction: r.direction,
    ethertype: r.ethertype,
    protocol: r.protocol ?? null,
    port_range_min: r.port_range_min ?? null,
    port_range_max: r.port_range_max ?? null,
    remote_ip_prefix: r.remote_ip_prefix ?? null,
    remote_group_id: r.remote_group_id ?? null,
    remote_address_group_id: null,
    normalized_cidr: r.remote_ip_prefix ?? null,
    description: r.description,
    tenant_id: r.project_id,
    project_id: r.project_id,
    created_at: std(r).created_at,
    updated_at: std(r).updated_at,
    revision_number: Number(r.revision_number ?? 0),
  };
}

export function renderGroup(r: Row, rules: Row[]): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    stateful: r.stateful,
    shared: false,
    security_group_rules: rules.map(renderRule),
    ...std(r),
  };
}

@Injectable()
export class SecurityGroupsService {
  constructor(readonly core: Core) {}

  private t(n: string) {
    return this.core.t(n);
  }

  private pred(c: Caller, params: unknown[], alias: string): string {
    if (c.isAdmin) return 'TRUE';
    params.push(c.projectId);
    return `${alias}.project_id = $${params.length}`;
  }

  async groupRows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    const pred = this.pred(c, params, 'g');
    return sql.rows(`SELECT g.* FROM ${this.t('security_group')} g WHERE ${pred} AND ${where} ORDER BY g.created_at, g.id`, params);
  }

  async renderGroups(rows: Row[], sql: Sql = this.core.db) {
    if (!rows.length) return [];
    const rules = await sql.rows(`SELECT * FROM ${this.t('security_group_rule')} WHERE security_group_id = ANY($1::uuid[]) ORDER BY created_at, id`, [rows.map((r) => r.id)]);
    return rows.map((g) => renderGroup(g, rules.filter((r) => r.security_group_id === g.id)));
  }

  /** A project's first look at its groups creates its `default` group. */
  private async touch(c: Caller) {
    if (c.projectId && !c.isAdmin) await this.core.ensureDefaultGroup(c.projectId);
    else if (c.projectId) await this.core.ensureDefaultGroup(c.projectId);
  }

  async list(c: Caller) {
    await this.touch(c);
    return this.renderGroups(await this.groupRows(c));
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.groupRows(c, 'g.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('SecurityGroupNotFound', `Security group ${id} does not exist.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    await this.touch(c);
    return (await this.renderGroups([await this.get(c, id)]))[0]!;
  }

  async create(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_security_group');
    await this.touch(c);
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) {
        checkKeys(b, SG_CREATE_KEYS, 'security_group');
        const project = ownerFor(c, b);
        const name = str(b, 'name') ?? '';
        if (name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists; choose another name.');
        await this.core.checkQuota(tx, project, 'security_group');
        const id = randomUUID();
        await tx.exec(`INSERT INTO ${this.t('security_group')} (id, project_id, name, description, stateful, tags) VALUES ($1, $2, $3, $4, $5, $6)`, [id, project, name, str(b, 'description') ?? '', bool(b, 'stateful') ?? true, tagsOf(b) ?? []]);
        // Neutron gives every new group egress-anywhere rules for both address families.
        for (const ethertype of ['IPv4', 'IPv6']) {
          await tx.exec(`INSERT INTO ${this.t('security_group_rule')} (id, project_id, security_group_id, direction, ethertype) VALUES ($1, $2, $3, 'egress', $4)`, [randomUUID(), project, id, ethertype]);
        }
        await this.emitGroup(tx, 'security_group.created', id, c.requestId);
        out.push(id);
      }
      return out;
    });
    const rows = await this.groupRows(c, 'g.id = ANY($1::uuid[])', [ids]);
    return this.renderGroups(ids.map((id) => rows.find((r) => r.id === id)!));
  }

  private async emitGroup(tx: Sql, event: 'security_group.created' | 'security_group.updated' | 'security_group.deleted', id: string, requestId?: string, row?: Row) {
    const g = row ?? (await tx.rows(`SELECT * FROM ${this.t('security_group')} WHERE id = $1`, [id]))[0]!;
    const [resource] = await this.renderGroups([g], tx);
    await this.core.emit(tx, event, g.project_id as string, id, resource!, requestId);
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_security_group');
    checkKeys(b, SG_UPDATE_KEYS, 'security_group');
    await this.core.tx(async (tx) => {
      const g = await this.get(c, id, tx);
      const set: Record<string, unknown> = {};
      if (b.name !== undefined) {
        const name = str(b, 'name');
        if (g.is_default && name !== 'default') throw conflict('SecurityGroupCannotUpdateDefault', 'Updating the name of the default security group is not allowed.');
        if (!g.is_default && name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists; choose another name.');
        set.name = name;
      }
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.stateful !== undefined) set.stateful = bool(b, 'stateful');
      if (b.tags !== undefined) set.tags = tagsOf(b);
      await updateRow(tx, this.t('security_group'), id, set);
      await this.emitGroup(tx, 'security_group.updated', id, c.requestId);
    });
    return this.show(c, id);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_security_group');
    await this.core.tx(async (tx) => {
      const g = await this.get(c, id, tx);
      if (g.is_default && !c.isAdmin) throw conflict('SecurityGroupCannotRemoveDefault', 'Removing the default security group is not allowed.');
      const inUse = await tx.rows(`SELECT port_id FROM ${this.t('port_security_group')} WHERE security_group_id = $1 LIMIT 1`, [id]);
      if (inUse.length) throw conflict('SecurityGroupInUse', `Security Group ${id} in use: port ${inUse[0]!.port_id as string} has it; remove it from the port first.`);
      const resource = (await this.renderGroups([g], tx))[0]!;
      await tx.exec(`DELETE FROM ${this.t('security_group_rule')} WHERE remote_group_id = $1 AND security_group_id <> $1`, [id]);
      await tx.exec(`DELETE FROM ${this.t('security_group')} WHERE id = $1`, [id]);
      await this.core.emit(tx, 'security_group.deleted', g.project_id as string, id, resource, c.requestId);
    });
  }

  // ---------------------------------------------------------------- rules

  async ruleRows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    let pred = 'TRUE';
    if (!c.isAdmin) {
      params.push(c.projectId);
      pred = `(r.project_id = $${params.length} OR r.security_group_id IN (SELECT id FROM ${this.t('security_group')} WHERE project_id = $${params.length}))`;
    }
    return sql.rows(`SELECT r.* FROM ${this.t('security_group_rule')} r WHERE ${pred} AND ${where} ORDER BY r.created_at, r.id`, params);
  }

  async listRules(c: Caller) {
    await this.touch(c);
    return (await this.ruleRows(c)).map(renderRule);
  }

  async getRule(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.ruleRows(c, 'r.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist.`);
    return rows[0];
  }

  async showRule(c: Caller, id: string) {
    return renderRule(await this.getRule(c, id));
  }

  async createRules(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_security_group_rule');
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) out.push(await this.createRule(tx, c, b));
      return out;
    });
    const rows = await this.ruleRows(c, 'r.id = ANY($1::uuid[])', [ids]);
    return ids.map((id) => renderRule(rows.find((r) => r.id === id)!));
  }

  private async createRule(tx: Sql, c: Caller, b: Record<string, unknown>): Promise<string> {
    checkKeys(b, RULE_KEYS, 'security_group_rule');
    if (typeof b.security_group_id !== 'string') throw invalidInput('security_group_id is required.');
    const g = await this.get(c, b.security_group_id, tx);
    const project = (b.project_id ?? b.tenant_id) === undefined ? (g.project_id as string) : ownerFor(c, b);
    const direction = b.direction;
    if (direction !== 'ingress' && direction !== 'egress') throw invalidInput(`direction must be 'ingress' or 'egress', not '${String(direction)}'.`);
    const ethertype = b.ethertype === undefined ? 'IPv4' : b.ethertype;
    if (ethertype !== 'IPv4' && ethertype !== 'IPv6') throw nerr(400, 'SecurityGroupRuleInvalidEtherType', `Security group rule for ethertype '${String(ethertype)}' not supported. Allowed values are ['IPv4', 'IPv6'].`);
    let protocol: string | null = b.protocol === undefined || b.protocol === null || b.protocol === 'any' ? null : String(b.protocol).toLowerCase();
    if (protocol !== null) {
      if (/^\d+$/.test(protocol)) {
        if (Number(protocol) > 255) throw nerr(400, 'SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${protocol} not supported. Only protocol values in [0, 255] and names are supported.`);
      } else if (!(protocol in PROTOCOLS)) {
        throw nerr(400, 'SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${protocol} not supported. Use a number 0-255 or one of ${Object.keys(PROTOCOLS).join(', ')}.`);
      }
      if (protocol === 'icmpv6') protocol = 'ipv6-icmp';
      if (ethertype === 'IPv4' && (protocol === 'ipv6-icmp' || protocol === '58')) throw nerr(400, 'SecurityGroupEthertypeConflictWithProtocol', `Ethertype IPv4 is not supported for protocol ${protocol}.`);
    }
    const min = int(b, 'port_range_min', -2147483648, 2147483647) ?? null;
    const max = int(b, 'port_range_max', -2147483648, 2147483647) ?? null;
    if ((min !== null || max !== null) && protocol === null) throw nerr(400, 'SecurityGroupProtocolRequiredWithPorts', 'Must also specify protocol if port range is given.');
    // Messages as Neutron words them (clients and Tempest match on them).
    if (protocol !== null && PORTED.has(protocol)) {
      for (const v of [min, max]) if (v !== null && (v < 1 || v > 65535)) throw nerr(400, 'SecurityGroupInvalidPortValue', `Invalid value for port ${v}.`);
      if ((min === null && max !== null) || (min !== null && max !== null && min > max)) {
        throw nerr(400, 'SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max');
      }
    } else if (protocol !== null && ICMP.has(protocol)) {
      for (const [v, field, attr] of [[min, 'type', 'port_range_min'], [max, 'code', 'port_range_max']] as const) {
        if (v !== null && (v < 0 || v > 255)) throw nerr(400, 'SecurityGroupInvalidIcmpValue', `Invalid value for ICMP ${field} (${attr}) ${v}. It must be 0 to 255.`);
      }
      if (min === null && max !== null) throw nerr(400, 'SecurityGroupMissingIcmpType', `ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`);
    } else if (min !== null || max !== null) {
      throw nerr(400, 'SecurityGroupInvalidProtocolForPortRange', `Protocol ${protocol} does not support port ranges; leave port_range_min/max out.`);
    }
    let prefix: string | null = null;
    if (b.remote_ip_prefix !== undefined && b.remote_ip_prefix !== null) {
      const cidr = parseCidr(b.remote_ip_prefix);
      if (!cidr) throw invalidInput(`'${String(b.remote_ip_prefix)}' is not a valid IP prefix for remote_ip_prefix.`);
      if ((cidr.version === 4 ? 'IPv4' : 'IPv6') !== ethertype) throw nerr(400, 'SecurityGroupRuleParameterConflict', `Conflicting value ethertype ${ethertype} for CIDR ${String(b.remote_ip_prefix)}.`);
      prefix = formatCidr(cidr);
    }
    let remoteGroup: string | null = null;
    if (b.remote_group_id !== undefined && b.remote_group_id !== null) {
      if (prefix) throw nerr(400, 'SecurityGroupRemoteGroupAndRemoteIpPrefix', 'Only remote_ip_prefix or remote_group_id may be provided.');
      remoteGroup = (await this.get(c, String(b.remote_group_id), tx)).id as string;
    }
    const dup = await tx.rows(
      `SELECT id FROM ${this.t('security_group_rule')} WHERE security_group_id = $1 AND direction = $2 AND ethertype = $3 AND protocol IS NOT DISTINCT FROM $4
       AND port_range_min IS NOT DISTINCT FROM $5 AND port_range_max IS NOT DISTINCT FROM $6 AND COALESCE(remote_ip_prefix, '') = COALESCE($7, '') AND remote_group_id IS NOT DISTINCT FROM $8::uuid`,
      [g.id, direction, ethertype, protocol, min, max, prefix, remoteGroup],
    );
    if (dup.length) throw conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup[0]!.id as string}.`);
    await this.core.checkQuota(tx, g.project_id as string, 'security_group_rule');
    const id = randomUUID();
    await tx.exec(
      `INSERT INTO ${this.t('security_group_rule')} (id, project_id, security_group_id, direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [id, project, g.id, direction, ethertype, protocol, min, max, prefix, remoteGroup, str(b, 'description') ?? ''],
    );
    await tx.exec(`UPDATE ${this.t('security_group')} SET revision_number = revision_number + 1, updated_at = now() WHERE id = $1`, [g.id]);
    await this.emitGroup(tx, 'security_group.updated', g.id as string, c.requestId);
    return id;
  }

  async deleteRule(c: Caller, id: string) {
    requireWrite(c, 'delete_security_group_rule');
    await this.core.tx(async (tx) => {
      const r = await this.getRule(c, id, tx);
      if (!c.isAdmin && r.project_id !== c.projectId) throw policyRefused('delete_security_group_rule');
      await tx.exec(`DELETE FROM ${this.t('security_group_rule')} WHERE id = $1`, [id]);
      await this.emitGroup(tx, 'security_group.updated', r.security_group_id as string, c.requestId);
    });
  }
}
