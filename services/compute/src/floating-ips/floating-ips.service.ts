import { Inject, Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, KUMO_CONFIG, PolicyService } from '@kumo/service-kit';
import type { Json } from '../common/nova.js';
import type { ComputeConfig } from '../config.js';
import { NetworkApi, NetworkApiError, networkRefusal } from '../security-groups/network-api.js';
import type { InstanceRow } from '../servers/instance.model.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Neutron's floating IP as the network service renders it. */
export type NeutronFloatingIp = {
  id: string;
  floating_ip_address: string;
  floating_network_id: string;
  fixed_ip_address: string | null;
  port_id: string | null;
  port_details: { device_id?: string } | null;
  project_id?: string;
};

type NeutronNetwork = { id: string; name: string };

/** Nova's view of a floating IP (nova/api/openstack/compute/floating_ips.py _translate_floating_ip_view). */
export type NovaFloatingIp = { id: string; ip: string; fixed_ip: string | null; instance_id: string | null; pool: string | null };

/** An IPv4 or IPv6 address (Nova's parameter_types.ip_address). */
function isIp(v: string): boolean {
  if (IPV4.test(v)) return true;
  if (!v.includes(':') || !/^[0-9a-fA-F:.]+$/.test(v)) return false;
  const dbl = (v.match(/::/g) ?? []).length;
  if (dbl > 1) return false;
  const groups = v.split(':').filter((g) => g !== '');
  return groups.length <= 8 && groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g) || IPV4.test(g)) && (dbl === 1 || groups.length === 8 || groups.some((g) => IPV4.test(g)));
}

/** Nova's JSON-schema check of addFloatingIp / removeFloatingIp bodies (address required, ip_address format, no other keys). */
function actionBody(arg: unknown, action: 'addFloatingIp' | 'removeFloatingIp'): { address: string; fixed?: string } {
  if (!arg || typeof arg !== 'object' || Array.isArray(arg)) throw ApiError.badRequest(`Invalid input for field/attribute ${action}. Value: ${JSON.stringify(arg ?? null)}. ${JSON.stringify(arg ?? null)} is not of type 'object'`);
  const o = arg as Json;
  const allowed = action === 'addFloatingIp' ? ['address', 'fixed_address'] : ['address'];
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length) throw ApiError.badRequest(`Invalid input for field/attribute ${action}. Value: ${JSON.stringify(o)}. Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  if (o.address === undefined) throw ApiError.badRequest(`Invalid input for field/attribute ${action}. Value: ${JSON.stringify(o)}. 'address' is a required property`);
  for (const k of allowed) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'string' || !isIp(v))) throw ApiError.badRequest(`Invalid input for field/attribute ${k}. Value: ${JSON.stringify(v)}. ${JSON.stringify(v)} is not a 'ip_address'`);
  }
  return { address: o.address as string, fixed: o.fixed_address as string | undefined };
}

/**
 * Nova's network proxy APIs for floating IPs (microversions 2.1–2.35: os-floating-ips,
 * os-floating-ip-pools; 2.1–2.43: the addFloatingIp / removeFloatingIp server actions), over the
 * network service's Neutron REST API with the caller's token, as Nova's neutron driver does: the
 * network service keeps the addresses, its policy scopes them to the project and counts its quota.
 * Pools are the external networks; ids are the Neutron floating IP ids.
 */
@Injectable()
export class FloatingIpsService {
  constructor(
    private readonly net: NetworkApi,
    private readonly policy: PolicyService,
    @Inject(KUMO_CONFIG) private readonly config: Pick<ComputeConfig, 'KUMO_COMPUTE_DEFAULT_FLOATING_POOL'>,
  ) {}

  private enforce(action: string, auth: AuthContext, projectId = auth.projectId): void {
    this.policy.enforce(`os_compute_api:os-floating-ips:${action}`, auth, { project_id: projectId });
  }

  private async externalNetworks(auth: AuthContext): Promise<NeutronNetwork[]> {
    return (await this.net.call<{ networks: NeutronNetwork[] }>(auth.token, 'GET', '/networks?router%3Aexternal=true').catch((e: unknown) => {
      throw networkRefusal(e);
    })).networks;
  }

  private view(f: NeutronFloatingIp, nets: NeutronNetwork[]): NovaFloatingIp {
    const n = nets.find((x) => x.id === f.floating_network_id);
    return {
      id: f.id,
      ip: f.floating_ip_address,
      fixed_ip: f.fixed_ip_address ?? null,
      // Nova: the device of the floating IP's port (its server), none when unassociated.
      instance_id: (f.port_id && f.port_details?.device_id) || null,
      pool: n ? n.name || n.id : f.floating_network_id,
    };
  }

  async list(auth: AuthContext): Promise<NovaFloatingIp[]> {
    this.enforce('list', auth);
    // Nova lists the caller's project's floating IPs (admins too: no all_tenants here).
    const q = auth.projectId ? `?project_id=${encodeURIComponent(auth.projectId)}` : '';
    const fips = (await this.net.call<{ floatingips: NeutronFloatingIp[] }>(auth.token, 'GET', `/floatingips${q}`).catch((e: unknown) => {
      throw networkRefusal(e);
    })).floatingips;
    const nets = fips.length ? await this.externalNetworks(auth) : [];
    return fips.map((f) => this.view(f, nets));
  }

  private async getRaw(auth: AuthContext, id: string, invalid: (msg: string) => ApiError): Promise<NeutronFloatingIp> {
    if (!UUID.test(id)) throw invalid(`Invalid ID received ${id}.`);
    return (await this.net.call<{ floatingip: NeutronFloatingIp }>(auth.token, 'GET', `/floatingips/${encodeURIComponent(id)}`).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status === 404) throw ApiError.notFound(`Floating IP not found for ID ${id}`);
      throw networkRefusal(e);
    })).floatingip;
  }

  async show(auth: AuthContext, id: string): Promise<NovaFloatingIp> {
    this.enforce('show', auth);
    const f = await this.getRaw(auth, id, ApiError.notFound);
    return this.view(f, await this.externalNetworks(auth));
  }

  /** Nova's pool lookup: an external network by name, else by id; without a pool the configured default, else the only/first external network. */
  private pool(pool: string | undefined, nets: NeutronNetwork[]): NeutronNetwork {
    if (pool !== undefined) {
      const byName = nets.filter((n) => n.name === pool);
      if (byName.length > 1) throw ApiError.conflict(`Multiple floating IP pools match name ${pool}; use the network id.`);
      const found = byName[0] ?? nets.find((n) => n.id === pool);
      if (!found) throw ApiError.notFound('Floating IP pool not found.');
      return found;
    }
    const found = nets.find((n) => n.name === this.config.KUMO_COMPUTE_DEFAULT_FLOATING_POOL) ?? nets[0];
    if (!found) throw ApiError.notFound('Floating IP pool not found.');
    return found;
  }

  async create(auth: AuthContext, body: unknown): Promise<NovaFloatingIp> {
    this.enforce('create', auth);
    let pool: string | undefined;
    if (body && typeof body === 'object' && !Array.isArray(body) && 'pool' in body && (body as Json).pool !== null) {
      const p = (body as Json).pool;
      if (typeof p !== 'string') throw ApiError.badRequest(`Invalid input for field/attribute pool. Value: ${JSON.stringify(p)}. ${JSON.stringify(p)} is not of type 'string'`);
      pool = p;
    }
    const nets = await this.externalNetworks(auth);
    const net = this.pool(pool, nets);
    const f = (await this.net.call<{ floatingip: NeutronFloatingIp }>(auth.token, 'POST', '/floatingips', { floatingip: { floating_network_id: net.id } }).catch((e: unknown) => {
      if (e instanceof NetworkApiError) {
        // Nova: FloatingIpLimitExceeded → 403, NoMoreFloatingIps → 404, pool gone → 404.
        if (e.status === 409 && e.type === 'OverQuota') throw ApiError.forbidden(pool ? `IP allocation over quota in pool ${pool}.` : 'IP allocation over quota.');
        if (e.status === 409 && e.type === 'IpAddressGenerationFailure') throw ApiError.notFound(pool ? `No more floating IPs in pool ${pool}.` : 'No more floating IPs available.');
        if (e.status === 404) throw ApiError.notFound('Floating IP pool not found.');
      }
      throw networkRefusal(e);
    })).floatingip;
    return this.view(f, nets);
  }

  async remove(auth: AuthContext, id: string): Promise<void> {
    this.enforce('delete', auth);
    const f = await this.getRaw(auth, id, ApiError.badRequest);
    // Neutron lets an associated floating IP go (Nova's disassociate_and_release_floating_ip).
    await this.net.call(auth.token, 'DELETE', `/floatingips/${encodeURIComponent(f.id)}`).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status === 404) throw ApiError.notFound(`Floating IP not found for ID ${id}`);
      throw networkRefusal(e);
    });
  }

  async pools(auth: AuthContext): Promise<{ name: string }[]> {
    this.policy.enforce('os_compute_api:os-floating-ip-pools:list', auth, { project_id: auth.projectId });
    return (await this.externalNetworks(auth)).map((n) => ({ name: n.name || n.id }));
  }

  private async byAddress(auth: AuthContext, address: string): Promise<NeutronFloatingIp> {
    const fips = (await this.net.call<{ floatingips: NeutronFloatingIp[] }>(auth.token, 'GET', `/floatingips?floating_ip_address=${encodeURIComponent(address)}`).catch((e: unknown) => {
      throw networkRefusal(e);
    })).floatingips;
    // The network service shows a project its own floating IPs only (another project's: not found).
    if (!fips[0]) throw ApiError.notFound('floating IP not found');
    return fips[0];
  }

  /** Validates the body before the server is looked up (Nova's schema runs first). */
  parseAdd(arg: unknown) {
    return actionBody(arg, 'addFloatingIp');
  }

  parseRemove(arg: unknown) {
    return actionBody(arg, 'removeFloatingIp');
  }

  /** addFloatingIp: the floating IP points at the server's port holding `fixed` (default: its first IPv4 fixed IP). */
  async addToServer(auth: AuthContext, i: InstanceRow, req: { address: string; fixed?: string }): Promise<void> {
    this.enforce('add', auth, i.project_id);
    const ports = i.ports ?? [];
    if (!ports.length) throw ApiError.badRequest('No nw_info cache associated with instance');
    const fixedIps = ports.flatMap((p) => p.fixedIps.map((f) => ({ port: p.id, address: f.ipAddress, version: f.ipVersion })));
    if (!fixedIps.length) throw ApiError.badRequest('No fixed IPs associated to instance');
    let chosen: { port: string; address: string } | undefined;
    if (req.fixed !== undefined) {
      chosen = fixedIps.find((f) => f.address === req.fixed);
      if (!chosen) throw ApiError.badRequest('Specified fixed address not assigned to instance');
    } else {
      chosen = fixedIps.find((f) => f.version === 4);
      if (!chosen) throw ApiError.badRequest(`Unable to associate floating IP ${req.address} to any fixed IPs for instance ${i.id}. Instance has no fixed IPv4 addresses to associate.`);
    }
    const f = await this.byAddress(auth, req.address);
    await this.net.call(auth.token, 'PUT', `/floatingips/${encodeURIComponent(f.id)}`, { floatingip: { port_id: chosen.port, fixed_ip_address: chosen.address } }).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status !== 403 && e.status !== 401) {
        throw ApiError.badRequest(`Unable to associate floating IP ${req.address} to fixed IP ${chosen.address} for instance ${i.id}. Error: ${e.message}`);
      }
      throw networkRefusal(e);
    });
  }

  /** removeFloatingIp: only a floating IP associated with this server (else 409, as Nova). */
  async removeFromServer(auth: AuthContext, i: InstanceRow, req: { address: string }): Promise<void> {
    this.enforce('remove', auth, i.project_id);
    const f = await this.byAddress(auth, req.address);
    const onServer = !!f.port_id && (f.port_details?.device_id === i.id || (i.ports ?? []).some((p) => p.id === f.port_id));
    if (!onServer) throw ApiError.conflict(`Floating IP ${req.address} is not associated with instance ${i.id}.`);
    await this.net.call(auth.token, 'PUT', `/floatingips/${encodeURIComponent(f.id)}`, { floatingip: { port_id: null } }).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status === 404) throw ApiError.notFound('floating IP not found');
      throw networkRefusal(e);
    });
  }
}
