/**
 * The network service's AMQP contract: the RPCs compute (API and conductor) calls on
 * `kumo.network`, and the events the network agents consume from `kumo.events`.
 *
 * Version history (of this file's payloads; the envelope version is in envelope.ts):
 *   1.0 - Initial version: allocate_for_server, deallocate_for_server, list_server_ports,
 *         bind_port, unbind_port, metadata_lookup; port.* router.* floatingip.* security_group.*.
 *   1.1 - Interface attachments: allocate_for_server `additional` (allocate the requested ports
 *         even when the server has some already; not idempotent, the caller gives them back on
 *         failure); unbind_port `deleteIfCreated` (a port compute created is deleted, a user's
 *         port is only unbound — Nova's detach). Additive.
 *
 * Authorisation: callers are Kumo services. `projectId` is the project the server belongs to:
 * the network service only lets it use networks that project may use (own, shared, or for admin
 * any), and ports it owns, with the same rules as its REST API.
 *
 * Idempotency: every call may be retried (conductor restarts, lost replies). allocate_for_server
 * for a server that already has ports returns those ports; deallocate/unbind of something already
 * gone succeed.
 */

export interface FixedIp {
  subnetId: string;
  ipAddress: string;
  /** 4 or 6 */
  ipVersion: number;
}

export interface ServerPort {
  id: string;
  networkId: string;
  networkName: string;
  macAddress: string;
  fixedIps: FixedIp[];
  /** DOWN until an agent wires it; ACTIVE afterwards. */
  status: string;
  mtu: number;
  /** ids of the port's security groups */
  securityGroups: string[];
  /** Floating IPs associated with this port (for Nova's `addresses` with type `floating`). */
  floatingIps: string[];
  /** Whether compute created the port (deleted with the server) or the user passed it in (kept, unbound). */
  createdForServer: boolean;
}

/** One entry of a server's `networks` request, as Nova accepts it. */
export interface RequestedNetwork {
  networkId?: string;
  portId?: string;
  fixedIp?: string;
}

export interface AllocateForServerRequest {
  projectId: string;
  serverId: string;
  /** 'auto': the project's only usable network (409-style error when ambiguous or none); 'none': no ports. */
  networks: 'auto' | 'none' | RequestedNetwork[];
  /** Security group names or ids; default: the project's `default` group. */
  securityGroups?: string[];
  /** Host the server was scheduled to; sets `binding:host_id`. May be set later by bind_port. */
  host?: string;
  asAdmin?: boolean;
  /** 1.1: add these ports to a server that may already have some (os-interface attach). */
  additional?: boolean;
}

export interface AllocateForServerReply {
  ports: ServerPort[];
}

export interface ServerRef {
  serverId: string;
}

export interface BindPortRequest {
  portId: string;
  serverId: string;
  host: string;
}

export interface MetadataLookupRequest {
  networkId: string;
  fixedIp: string;
}

export interface MetadataLookupReply {
  /** null when no port on that network has that address. */
  serverId: string | null;
  projectId: string | null;
  portId: string | null;
}

export interface NetworkRpcMethods {
  allocate_for_server: { request: AllocateForServerRequest; reply: AllocateForServerReply };
  /** Deletes ports created for the server; unbinds (clears device_id/host) ports the user passed in. */
  deallocate_for_server: { request: ServerRef; reply: { deleted: number; unbound: number } };
  list_server_ports: { request: ServerRef; reply: { ports: ServerPort[] } };
  bind_port: { request: BindPortRequest; reply: { port: ServerPort } };
  /** 1.1: `deleteIfCreated` deletes a port compute created for the server instead of unbinding it. */
  unbind_port: { request: { portId: string; deleteIfCreated?: boolean }; reply: { ok: true } };
  metadata_lookup: { request: MetadataLookupRequest; reply: MetadataLookupReply };
}

/** Event bodies carry the resource in Neutron's REST shape (snake_case), plus its project. */
export interface NetworkResourceEvent {
  id: string;
  projectId: string;
  resource: Record<string, unknown>;
}

export interface NetworkEventPayloads {
  'port.created': NetworkResourceEvent;
  'port.updated': NetworkResourceEvent;
  'port.deleted': NetworkResourceEvent;
  'router.created': NetworkResourceEvent;
  'router.updated': NetworkResourceEvent;
  'router.deleted': NetworkResourceEvent;
  'floatingip.created': NetworkResourceEvent;
  'floatingip.updated': NetworkResourceEvent;
  'floatingip.deleted': NetworkResourceEvent;
  'security_group.created': NetworkResourceEvent;
  'security_group.updated': NetworkResourceEvent;
  'security_group.deleted': NetworkResourceEvent;
}
