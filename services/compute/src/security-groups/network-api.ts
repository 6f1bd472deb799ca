import { Inject, Injectable } from '@nestjs/common';
import { ApiError, KUMO_CONFIG } from '@kumo/service-kit';
import type { ComputeConfig } from '../config.js';
import { callService, fetchCall, type HttpCall, serviceFailed } from '../common/service-rest.js';

export type { HttpCall } from '../common/service-rest.js';

export type NeutronRule = {
  id: string;
  security_group_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  project_id?: string;
  tenant_id?: string;
};

export type NeutronGroup = {
  id: string;
  name: string;
  description: string;
  project_id?: string;
  tenant_id?: string;
  security_group_rules: NeutronRule[];
};

export type NeutronPort = { id: string; device_id: string; security_groups: string[]; port_security_enabled?: boolean; fixed_ips?: unknown[] };

/** A non-2xx answer of the network service: status, Neutron's error type and message. */
export class NetworkApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkApiError';
  }
}

/**
 * The network service's refusals a Nova proxy has no specific answer for (os-networks,
 * os-floating-ips): its 401/403 stay, anything else is a 400 with its reason. Other errors pass.
 */
export function networkRefusal(err: unknown): unknown {
  if (!(err instanceof NetworkApiError)) return err;
  if (err.status === 403) return ApiError.forbidden(err.message);
  if (err.status === 401) return ApiError.unauthorized(err.message);
  return ApiError.badRequest(err.message);
}

/**
 * The network service's REST API (Neutron v2.0) as Nova uses it for security groups and floating IPs: every call
 * carries the caller's own token, so the network service's policy (project scoping) applies.
 * Non-2xx answers become NetworkApiError; an unreachable service becomes a 503 ApiError.
 */
@Injectable()
export class NetworkApi {
  private readonly base: string | undefined;
  http: HttpCall = fetchCall;

  constructor(@Inject(KUMO_CONFIG) config: Pick<ComputeConfig, 'KUMO_NETWORK_URL'>) {
    this.base = config.KUMO_NETWORK_URL?.replace(/\/+$/, '');
  }

  get configured(): boolean {
    return this.base !== undefined;
  }

  async call<T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const res = await callService(
      this.http,
      { service: 'network', base: this.base, variable: 'KUMO_NETWORK_URL', apis: 'network proxy APIs (security groups, floating IPs, networks)' },
      { token, method, url: `/v2.0${path}`, body },
    );
    const json = res.json;
    if (res.status >= 200 && res.status < 300) return json as T;
    const e = (json as { NeutronError?: { type?: string; message?: string } } | undefined)?.NeutronError;
    if (res.status >= 500 || (!e && res.status !== 404)) {
      throw serviceFailed('network', method, path, res.status, e?.message);
    }
    throw new NetworkApiError(res.status, e?.type ?? 'HTTPError', e?.message ?? `HTTP ${res.status}`);
  }

  async listGroups(token: string, query = ''): Promise<NeutronGroup[]> {
    return (await this.call<{ security_groups: NeutronGroup[] }>(token, 'GET', `/security-groups${query}`)).security_groups;
  }

  async getGroup(token: string, id: string): Promise<NeutronGroup> {
    return (await this.call<{ security_group: NeutronGroup }>(token, 'GET', `/security-groups/${encodeURIComponent(id)}`)).security_group;
  }

  async createGroup(token: string, body: { name: string; description: string }): Promise<NeutronGroup> {
    return (await this.call<{ security_group: NeutronGroup }>(token, 'POST', '/security-groups', { security_group: body })).security_group;
  }

  async updateGroup(token: string, id: string, body: { name?: string; description?: string }): Promise<NeutronGroup> {
    return (await this.call<{ security_group: NeutronGroup }>(token, 'PUT', `/security-groups/${encodeURIComponent(id)}`, { security_group: body })).security_group;
  }

  async deleteGroup(token: string, id: string): Promise<void> {
    await this.call(token, 'DELETE', `/security-groups/${encodeURIComponent(id)}`);
  }

  async createRule(token: string, body: Record<string, unknown>): Promise<NeutronRule> {
    return (await this.call<{ security_group_rule: NeutronRule }>(token, 'POST', '/security-group-rules', { security_group_rule: body })).security_group_rule;
  }

  async getRule(token: string, id: string): Promise<NeutronRule> {
    return (await this.call<{ security_group_rule: NeutronRule }>(token, 'GET', `/security-group-rules/${encodeURIComponent(id)}`)).security_group_rule;
  }

  async deleteRule(token: string, id: string): Promise<void> {
    await this.call(token, 'DELETE', `/security-group-rules/${encodeURIComponent(id)}`);
  }

  async serverPorts(token: string, serverId: string): Promise<NeutronPort[]> {
    return (await this.call<{ ports: NeutronPort[] }>(token, 'GET', `/ports?device_id=${encodeURIComponent(serverId)}`)).ports;
  }

  async setPortGroups(token: string, portId: string, groups: string[]): Promise<void> {
    await this.call(token, 'PUT', `/ports/${encodeURIComponent(portId)}`, { port: { security_groups: groups } });
  }
}
