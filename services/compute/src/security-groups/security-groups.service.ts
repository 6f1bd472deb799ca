import { Injectable, Logger } from '@nestjs/common';
import { ApiError, type AuthContext } from '@kumo/service-kit';
import { isAdmin, type Json } from '../common/nova.js';
import { NetworkApi, NetworkApiError, type NeutronGroup, type NeutronRule } from './network-api.js';

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export type NovaRule = {
  id: string;
  parent_group_id: string;
  ip_protocol: string | null;
  from_port: number | null;
  to_port: number | null;
  ip_range: { cidr?: string };
  group: { name?: string; tenant_id?: string };
};

export type NovaGroup = { id: string; name: string; description: string; tenant_id: string; rules: NovaRule[] };

/** Neutron's answer for a call, as the Nova error it becomes (what nova/network/security_group_api.py does). */
function mapped(err: unknown, notFound: string, on409: (e: NetworkApiError) => ApiError = (e) => ApiError.badRequest(e.message)): unknown {
  if (!(err instanceof NetworkApiError)) return err;
  if (err.status === 404) return ApiError.notFound(notFound);
  if (err.status === 409) return on409(err);
  if (err.status === 400) return ApiError.badRequest(err.message);
  if (err.status === 403) return ApiError.forbidden(err.message);
  if (err.status === 401) return ApiError.unauthorized(err.message);
  return new ApiError(503, `The network service refused the request (HTTP ${err.status}: ${err.message}).`);
}

/** Nova's check_string_length for a group's name or description (Neutron allows any characters). */
function property(v: unknown, field: 'name' | 'description'): string {
  if (typeof v !== 'string') throw ApiError.badRequest(`Invalid input received: ${field} is not a string or unicode`);
  if (v.length > 255) throw ApiError.badRequest(`Invalid input received: ${field} has a maximum length of 255 characters`);
  return v;
}

function validId(id: string): string {
  if (!UUID.test(id)) throw ApiError.badRequest('Invalid input received: Security group id should be uuid');
  return id;
}

function portOf(v: unknown, field: string): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw ApiError.badRequest(`Invalid input received: To and From ports must be integers (${field}: ${JSON.stringify(v)})`);
  return n;
}

/** IPv4/IPv6 network in CIDR notation (what Nova's netutils check accepts). */
function validCidr(cidr: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return false;
  const [, addr, len] = m;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(addr!)) return addr!.split('.').every((o) => Number(o) <= 255) && Number(len) <= 32;
  if (addr!.includes(':') && /^[0-9a-fA-F:.]+$/.test(addr!) && (addr!.match(/::/g) ?? []).length <= 1) return Number(len) <= 128;
  return false;
}

/**
 * Nova's os-security-groups API over the network service (nova/api/openstack/compute/security_groups.py
 * with the Neutron driver): Nova's shapes and validation, Neutron does the storage and the project scoping.
 */
@Injectable()
export class SecurityGroupsService {
  private readonly log = new Logger('SecurityGroups');

  constructor(readonly net: NetworkApi) {}

  novaRule(r: NeutronRule, groups: Map<string, NeutronGroup>): NovaRule {
    let from = r.port_range_min;
    let to = r.port_range_max;
    if (r.protocol && from === null && to === null) {
      [from, to] = ['tcp', 'udp'].includes(r.protocol.toLowerCase()) ? [1, 65535] : [-1, -1];
    }
    const out: NovaRule = { id: r.id, parent_group_id: r.security_group_id, ip_protocol: r.protocol, from_port: from, to_port: to, ip_range: {}, group: {} };
    if (r.remote_group_id) {
      const g = groups.get(r.remote_group_id);
      out.group = g ? { name: g.name, tenant_id: g.project_id ?? g.tenant_id ?? '' } : {};
    } else {
      out.ip_range = { cidr: r.remote_ip_prefix || (r.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0') };
    }
    return out;
  }

  novaGroup(g: NeutronGroup, groups: Map<string, NeutronGroup>): NovaGroup {
    return {
      id: g.id,
      name: g.name,
      description: g.description ?? '',
      tenant_id: g.project_id ?? g.tenant_id ?? '',
      // Nova shows the ingress rules only.
      rules: (g.security_group_rules ?? []).filter((r) => r.direction === 'ingress').map((r) => this.novaRule(r, groups)),
    };
  }

  /** Groups that rules name as their remote group, for the rules' `group` {name, tenant_id}. */
  private async remoteGroups(auth: AuthContext, known: NeutronGroup[]): Promise<Map<string, NeutronGroup>> {
    const map = new Map(known.map((g) => [g.id, g]));
    const missing = [...new Set(known.flatMap((g) => (g.security_group_rules ?? []).map((r) => r.remote_group_id)).filter((id): id is string => !!id && !map.has(id)))];
    for (const id of missing) {
      const g = await this.net.getGroup(auth.token, id).catch(() => undefined);
      if (g) map.set(id, g);
    }
    return map;
  }

  async list(auth: AuthContext, q: Record<string, unknown>): Promise<NovaGroup[]> {
    const all = isAdmin(auth) && ['1', 'true', 'True', 'yes'].includes(String(q.all_tenants ?? ''));
    const query = all || !auth.projectId ? '' : `?project_id=${encodeURIComponent(auth.projectId)}`;
    const groups = await this.net.listGroups(auth.token, query).catch((e: unknown) => {
      throw mapped(e, 'Security groups not found.');
    });
    const map = await this.remoteGroups(auth, groups);
    return groups.map((g) => this.novaGroup(g, map));
  }

  private async getRaw(auth: AuthContext, id: string): Promise<NeutronGroup> {
    validId(id);
    return this.net.getGroup(auth.token, id).catch((e: unknown) => {
      throw mapped(e, `Security group ${id} not found.`);
    });
  }

  async show(auth: AuthContext, id: string): Promise<NovaGroup> {
    const g = await this.getRaw(auth, id);
    return this.novaGroup(g, await this.remoteGroups(auth, [g]));
  }

  private groupBody(body: unknown): Json {
    const sg = body && typeof body === 'object' ? (body as Json).security_group : undefined;
    if (!sg || typeof sg !== 'object' || Array.isArray(sg)) throw ApiError.badRequest('security_group not specified');
    return sg as Json;
  }

  async create(auth: AuthContext, body: unknown): Promise<NovaGroup> {
    const sg = this.groupBody(body);
    const name = property(sg.name, 'name');
    const description = property(sg.description, 'description');
    const g = await this.net.createGroup(auth.token, { name, description }).catch((e: unknown) => {
      throw mapped(e, 'Security group not found.', (n) => (n.type === 'OverQuota' ? ApiError.forbidden(`Quota exceeded, too many security groups: ${n.message}`) : ApiError.badRequest(n.message)));
    });
    return this.novaGroup(g, new Map([[g.id, g]]));
  }

  async update(auth: AuthContext, id: string, body: unknown): Promise<NovaGroup> {
    validId(id);
    const sg = this.groupBody(body);
    const name = property(sg.name, 'name');
    const description = property(sg.description, 'description');
    const g = await this.net.updateGroup(auth.token, id, { name, description }).catch((e: unknown) => {
      throw mapped(e, `Security group ${id} not found.`);
    });
    return this.novaGroup(g, await this.remoteGroups(auth, [g]));
  }

  /** Nova answers 400 when Neutron refuses with a conflict (the default group, a group in use). */
  async remove(auth: AuthContext, id: string): Promise<void> {
    await this.getRaw(auth, id);
    await this.net.deleteGroup(auth.token, id).catch((e: unknown) => {
      throw mapped(e, `Security group ${id} not found.`, (n) => ApiError.badRequest(`Security group ${id} cannot be deleted: ${n.message}`));
    });
  }

  async createRule(auth: AuthContext, body: unknown): Promise<NovaRule> {
    const r = body && typeof body === 'object' ? (body as Json).security_group_rule : undefined;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw ApiError.badRequest('security_group_rule not specified');
    const b = r as Json;
    const parentId = validId(typeof b.parent_group_id === 'string' ? b.parent_group_id : String(b.parent_group_id ?? ''));
    const parent = await this.getRaw(auth, parentId);
    const groupId = b.group_id === undefined || b.group_id === null || b.group_id === '' ? null : validId(String(b.group_id));
    let remote: NeutronGroup | undefined;
    if (groupId) remote = groupId === parent.id ? parent : await this.getRaw(auth, groupId);
    let cidr: string | null = null;
    if (!groupId) {
      cidr = b.cidr === undefined || b.cidr === null || b.cidr === '' ? '0.0.0.0/0' : String(b.cidr);
      if (!validCidr(cidr)) throw ApiError.badRequest(`Invalid input received: ${cidr} is not a valid IP network.`);
    }
    const protocolRaw = b.ip_protocol === undefined || b.ip_protocol === null || b.ip_protocol === '' ? null : String(b.ip_protocol);
    let from = portOf(b.from_port, 'from_port');
    let to = portOf(b.to_port, 'to_port');
    const proto = protocolRaw?.toUpperCase() ?? '';
    if (proto === 'ICMP' && from === null && to === null) [from, to] = [-1, -1];
    else if ((proto === 'TCP' || proto === 'UDP') && from === null && to === null) [from, to] = [1, 65535];
    if (!protocolRaw || from === null || to === null) throw ApiError.badRequest('Not enough parameters to build a valid rule.');
    if (!['TCP', 'UDP', 'ICMP'].includes(proto)) throw ApiError.badRequest(`Invalid IP protocol ${protocolRaw}.`);
    if (proto !== 'ICMP' && from > to) throw ApiError.badRequest(`Invalid port range ${from}:${to}. Former value cannot be greater than the later`);
    if (proto !== 'ICMP' && (from < 1 || to > 65535)) throw ApiError.badRequest(`Invalid port range ${from}:${to}. Valid ${proto} ports should be between 1-65535`);
    if (proto === 'ICMP' && (from < -1 || from > 255 || to < -1 || to > 255)) throw ApiError.badRequest(`Invalid port range ${from}:${to}. For ICMP, the type:code must be valid`);
    const protocol = proto.toLowerCase();
    const min = proto === 'ICMP' && from === -1 ? null : from;
    const max = proto === 'ICMP' && to === -1 ? null : to;
    // Nova looks for the same rule first: a duplicate is a 400, not Neutron's 409.
    const same = parent.security_group_rules.find(
      (x) => x.direction === 'ingress' && x.protocol === protocol && x.port_range_min === min && x.port_range_max === max && (x.remote_group_id ?? null) === groupId && (groupId !== null || (x.remote_ip_prefix ?? (x.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0')) === cidr),
    );
    if (same) throw ApiError.badRequest(`This rule already exists in group ${parent.id}`);
    const rule = await this.net
      .createRule(auth.token, {
        security_group_id: parent.id,
        direction: 'ingress',
        ethertype: cidr && cidr.includes(':') ? 'IPv6' : 'IPv4',
        protocol,
        port_range_min: min,
        port_range_max: max,
        ...(groupId ? { remote_group_id: groupId } : { remote_ip_prefix: cidr }),
      })
      .catch((e: unknown) => {
        throw mapped(e, `Security group ${parent.id} not found.`, (n) =>
          n.type === 'SecurityGroupRuleExists' ? ApiError.badRequest(`This rule already exists in group ${parent.id}`) : ApiError.forbidden(`Quota exceeded, too many security group rules: ${n.message}`),
        );
      });
    const map = new Map([[parent.id, parent]]);
    if (remote) map.set(remote.id, remote);
    const out = this.novaRule(rule, map);
    // Nova answers with the CIDR as the caller wrote it (Neutron keeps remote_ip_prefix as given and
    // puts the network address in normalized_cidr; Kumo's network service normalises both).
    if (cidr && out.ip_range.cidr) out.ip_range = { cidr };
    return out;
  }

  async removeRule(auth: AuthContext, id: string): Promise<void> {
    validId(id);
    const notFound = `Rule (${id}) not found`;
    await this.net.getRule(auth.token, id).catch((e: unknown) => {
      throw mapped(e, notFound);
    });
    await this.net.deleteRule(auth.token, id).catch((e: unknown) => {
      throw mapped(e, notFound);
    });
  }

  /** A group of the caller's project by name or id (Neutron's find_resourceid_by_name_or_id). */
  async findId(auth: AuthContext, nameOrId: string): Promise<string | undefined> {
    const project = auth.projectId ? `&project_id=${encodeURIComponent(auth.projectId)}` : '';
    const byName = await this.net.listGroups(auth.token, `?name=${encodeURIComponent(nameOrId)}${project}`).catch((e: unknown) => {
      throw mapped(e, `Security group ${nameOrId} not found.`);
    });
    if (byName.length > 1) throw ApiError.conflict(`Multiple security_group matches found for name '${nameOrId}', use an ID to be more specific.`);
    if (byName[0]) return byName[0].id;
    if (!UUID.test(nameOrId)) return undefined;
    const g = await this.net.getGroup(auth.token, nameOrId).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status === 404) return undefined;
      throw mapped(e, `Security group ${nameOrId} not found.`);
    });
    return g?.id;
  }

  /**
   * Server create: every named group must exist for the caller's project (`default` is made on first
   * use by the network service). Only checked when the network service is configured and answers.
   */
  async checkForCreate(auth: AuthContext, names: string[]): Promise<void> {
    if (!this.net.configured) return;
    for (const name of new Set(names)) {
      if (name === 'default') continue;
      let id: string | undefined;
      try {
        id = await this.findId(auth, name);
      } catch (err) {
        if (err instanceof ApiError && err.status === 503) {
          this.log.warn(`security group ${name} not checked: ${err.message}`);
          return;
        }
        throw err;
      }
      if (!id) throw ApiError.badRequest(`Security group ${name} not found for project ${auth.projectId ?? ''}.`);
    }
  }

  async forServer(auth: AuthContext, serverId: string): Promise<NovaGroup[]> {
    if (!this.net.configured) return [];
    const ports = await this.net.serverPorts(auth.token, serverId).catch((e: unknown) => {
      throw mapped(e, `Ports of instance ${serverId} not found.`);
    });
    const ids = [...new Set(ports.flatMap((p) => p.security_groups ?? []))];
    if (!ids.length) return [];
    const groups = await this.net.listGroups(auth.token, `?${ids.map((id) => `id=${encodeURIComponent(id)}`).join('&')}`).catch((e: unknown) => {
      throw mapped(e, 'Security groups not found.');
    });
    const map = await this.remoteGroups(auth, groups);
    return groups.map((g) => this.novaGroup(g, map));
  }

  /** addSecurityGroup: the group (by name or id) onto every port of the server; returns the group's name. */
  async addToServer(auth: AuthContext, serverId: string, nameOrId: string): Promise<string> {
    const id = await this.findId(auth, nameOrId);
    if (!id) throw ApiError.notFound(`Security group ${nameOrId} is not found for project ${auth.projectId ?? ''}`);
    const ports = await this.ports(auth, serverId);
    for (const p of ports) {
      if (p.port_security_enabled === false) throw ApiError.badRequest(`Network requires port_security_enabled and subnet associated in order to apply security groups (port ${p.id}).`);
      if ((p.security_groups ?? []).includes(id)) continue;
      await this.net.setPortGroups(auth.token, p.id, [...(p.security_groups ?? []), id]).catch((e: unknown) => {
        throw mapped(e, `Port ${p.id} of instance ${serverId} not found.`);
      });
    }
    return nameOrId;
  }

  /** removeSecurityGroup: 400 when no port of the server has the group (Nova's SecurityGroupNotExistsForInstance). */
  async removeFromServer(auth: AuthContext, serverId: string, nameOrId: string): Promise<void> {
    const id = await this.findId(auth, nameOrId);
    if (!id) throw ApiError.notFound(`Security group ${nameOrId} is not found for project ${auth.projectId ?? ''}`);
    const ports = await this.ports(auth, serverId);
    let found = false;
    for (const p of ports) {
      if (!(p.security_groups ?? []).includes(id)) continue;
      found = true;
      await this.net.setPortGroups(auth.token, p.id, p.security_groups.filter((g) => g !== id)).catch((e: unknown) => {
        throw mapped(e, `Port ${p.id} of instance ${serverId} not found.`);
      });
    }
    if (!found) throw ApiError.badRequest(`Security group ${nameOrId} not associated with the instance ${serverId}`);
  }

  private async ports(auth: AuthContext, serverId: string) {
    const ports = await this.net.serverPorts(auth.token, serverId).catch((e: unknown) => {
      throw mapped(e, `Ports of instance ${serverId} not found.`);
    });
    if (!ports.length) throw ApiError.notFound(`instance_id ${serverId} could not be found as device id on any ports`);
    return ports;
  }
}
