import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { isAdmin } from '../common/nova.js';
import { NetworkApi, NetworkApiError, networkRefusal } from '../security-groups/network-api.js';

type NeutronNetwork = { id: string; name: string };

/** os-networks fields Nova shows to everyone; all but id and label were nova-network's and are null with Neutron. */
const FIELDS = ['cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'netmask_v6'];
/** …and the ones it adds for admins (same story). */
const ADMIN_FIELDS = [
  'created_at', 'updated_at', 'deleted_at', 'deleted', 'injected', 'bridge', 'vlan', 'vpn_public_address', 'vpn_public_port', 'vpn_private_address',
  'dhcp_start', 'project_id', 'host', 'bridge_interface', 'multi_host', 'priority', 'rxtx_base', 'mtu', 'dhcp_server', 'enable_dhcp', 'share_address',
];

/**
 * Nova's os-networks and os-tenant-networks with Neutron (2.1–2.35): a read-only view of the
 * networks the caller can see in the network service, asked with the caller's own token (its
 * policy decides which: the project's, shared and external ones; an admin sees all). Nova fills
 * only `id` and `label` (the network's name); everything else is null on os-networks and the
 * string "None" as `cidr` on os-tenant-networks — what Nova answers, so it is what Kumo answers.
 */
@Injectable()
export class NetworksService {
  constructor(
    private readonly net: NetworkApi,
    private readonly policy: PolicyService,
  ) {}

  private networkView(auth: AuthContext, n: NeutronNetwork) {
    const out: Record<string, unknown> = { id: n.id, label: n.name };
    for (const f of isAdmin(auth) ? [...FIELDS, ...ADMIN_FIELDS] : FIELDS) out[f] = null;
    return out;
  }

  private tenantView(n: NeutronNetwork) {
    return { id: n.id, cidr: 'None', label: n.name };
  }

  private async all(auth: AuthContext): Promise<NeutronNetwork[]> {
    return (await this.net.call<{ networks: NeutronNetwork[] }>(auth.token, 'GET', '/networks').catch((e: unknown) => {
      throw networkRefusal(e);
    })).networks;
  }

  private async one(auth: AuthContext, id: string): Promise<NeutronNetwork> {
    return (await this.net.call<{ network: NeutronNetwork }>(auth.token, 'GET', `/networks/${encodeURIComponent(id)}`).catch((e: unknown) => {
      if (e instanceof NetworkApiError && e.status === 404) throw ApiError.notFound('Network not found');
      throw networkRefusal(e);
    })).network;
  }

  async list(auth: AuthContext) {
    this.policy.enforce('os_compute_api:os-networks:list', auth, { project_id: auth.projectId });
    return { networks: (await this.all(auth)).map((n) => this.networkView(auth, n)) };
  }

  async show(auth: AuthContext, id: string) {
    this.policy.enforce('os_compute_api:os-networks:show', auth, { project_id: auth.projectId });
    return { network: this.networkView(auth, await this.one(auth, id)) };
  }

  async listTenant(auth: AuthContext) {
    this.policy.enforce('os_compute_api:os-tenant-networks:list', auth, { project_id: auth.projectId });
    return { networks: (await this.all(auth)).map((n) => this.tenantView(n)) };
  }

  async showTenant(auth: AuthContext, id: string) {
    this.policy.enforce('os_compute_api:os-tenant-networks:show', auth, { project_id: auth.projectId });
    return { network: this.tenantView(await this.one(auth, id)) };
  }
}
