/**
 * The compute service's AMQP contract: what the compute service (API + scheduler + conductor)
 * and its node agents say to each other, and the events it publishes on `kumo.events`.
 *
 * Version history (of this file's payloads; the envelope version is in envelope.ts):
 *   1.0 - Initial version: agent sync/console_output/snapshot; agent_report, host_report;
 *         instance.created/state_changed/deleted.
 *   1.1 - Moves and hot-plug: `sync.liveMigration`; agent RPCs prepare_incoming, finish_incoming,
 *         abort_incoming, domain_state (agent to agent, for live migration) and attach_interface,
 *         detach_interface (service to agent). Additive: 1.0 agents ignore what they do not know.
 *   1.2 - InstanceSpec.rescue (rescue boots a rescue disk, the root disk attached second);
 *         agent calls set_password, diagnostics and get_console (additions only).
 *   1.2+ - (aggregates) InstanceSpec.numa (guest NUMA nodes and pinned host CPUs chosen by the
 *         scheduler's claim); HostReport.numaTopology and cpuDedicatedSet. Optional, additive.
 *   1.3 - Agent calls trigger_crash_dump (an NMI into the guest; microversion 2.17) and
 *         control_migration (force-complete or abort an outgoing live migration; 2.22/2.24). Additive.
 *   1.4 - Volumes: InstanceSpec.volumes (attached volumes, disks after the root disk); agent calls
 *         attach_volume, detach_volume (additions only).
 *   1.5 - Consoles: HostReport.consoleUrl (the base URL of the node's noVNC proxy) and the service
 *         RPC `compute.console_auth` (a node's proxy checks a console token). Additive: an older
 *         agent reports no URL and its consoles keep the compute API's page.
 *   1.7 - HostReport.hostUptime (the node's uptime and load, for os-hypervisors/{id}/uptime). Additive.
 *   1.7+ - (2.48) The diagnostics reply adds `standard`: Nova's standardized diagnostics. Additive:
 *         the API answers 501 at 2.48 for an older agent without it.
 *   1.7+ - (config drive) InstanceSpec.configDrive: what the agent writes into the instance's
 *         config drive ISO (Nova's configdrive). Optional, additive: an older agent boots without it.
 *   1.6 - (evacuate) HostReport.startup: the first report of a (re)started agent; the service
 *         answers it with `absent` syncs for domains of instances evacuated away from the host
 *         (Nova's _destroy_evacuated_instances at init_host). Optional, additive.
 *
 * Agents never touch the database. The service casts the *desired* state of one instance to
 * `kumo.compute.<host>` (`compute_agent.sync`); the agent's syncer converges the hypervisor to it
 * and casts what it observed back to `kumo.compute` (`compute.agent_report`). Every sync carries the
 * instance's `generation` (bumped by each task): a report closes the task only when its
 * generation is the current one, so late or redelivered messages are harmless.
 */

/** Power state the agent must converge a domain to; `absent` = destroyed. */
export type DesiredPower = 'running' | 'shutoff' | 'paused' | 'suspended' | 'absent';

/** What an agent needs to run one instance (mapped to the hypervisor's DomainSpec by the agent). */
export interface InstanceSpec {
  instanceId: string;
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  /** Flavor extra specs (hw:cpu_policy, hw:cpu_sockets, ...), mapped by the agent. */
  extraSpecs: Record<string, string>;
  image: { id: string; path?: string; url?: string; checksum?: string | null; properties: Record<string, string> } | null;
  userData?: string | null;
  keyData?: string | null;
  ports: { id: string; macAddress: string; networkId: string; mtu: number }[];
  /**
   * Set while the instance is rescued (and during rescuing): the domain boots from a disk made
   * from this image, with the instance's own root disk attached second. Changes of it come with
   * a new `specVersion`, so the agent re-creates the domain.
   */
  rescue?: { image: { id: string; path?: string; url?: string; checksum?: string | null; properties: Record<string, string> } } | null;
  /**
   * Guest NUMA nodes as the claim placed them (flavors with hw:numa_nodes or
   * hw:cpu_policy=dedicated): node i holds vCPUs `vcpus` and `memoryMb` bound to host cell
   * `hostCell`; `cpus` are the host CPUs its vCPUs are pinned to, one each (empty: floating).
   */
  numa?: { hostCell: number; memoryMb: number; vcpus: number[]; cpus: number[] }[] | null;
  /** 1.3: attached volumes, in attach order (a re-created domain keeps them). */
  volumes?: InstanceVolume[];
  /**
   * Set when the server has a config drive (`config_drive: true` or the image's
   * `img_config_drive=mandatory`): the agent writes it (ISO 9660, label `config-2`) and attaches
   * it as a read-only cdrom. Carries what the agent cannot look up itself (it has no database).
   */
  configDrive?: ConfigDriveData | null;
}

/** The facts of Nova's instance metadata (meta_data.json, network_data.json) the agent needs. */
export interface ConfigDriveData {
  projectId: string;
  hostname: string;
  availabilityZone: string | null;
  launchIndex: number;
  /** Server metadata (Nova's `meta`). */
  metadata: Record<string, string>;
  /** The key pair the server was booted with; `type` is Nova's keypair type (ssh or x509). */
  key: { name: string; type: string; data: string } | null;
  /** The server's ports with their fixed IPs (network_data.json). */
  ports: { id: string; networkId: string; macAddress: string; mtu: number; fixedIps: { ipAddress: string; ipVersion: number }[] }[];
}

/** A volume as the agent plugs it: the volume service's connection info (file backend: a path on this node). */
export interface InstanceVolume {
  volumeId: string;
  /** Guest device name compute chose (`/dev/vdb`); informative, the guest names disks itself. */
  device: string | null;
  path: string;
  format: 'qcow2' | 'raw';
  /** The boot disk of a volume-backed server (boot index 0; the spec then has no image). */
  boot?: boolean;
}

export interface AgentSyncRequest {
  host: string;
  instanceId: string;
  generation: number;
  power: DesiredPower;
  /** Bumped when the domain must be re-created from `spec` (resize, revert, rebuild). */
  specVersion: number;
  /** Bumped for every reboot request. */
  rebootSeq: number;
  rebootHard?: boolean;
  spec: InstanceSpec;
  /**
   * Set while a createImage task runs: the agent writes the instance's disk into its snapshot
   * directory and fills this (queued) image with `image.import_file`, once per image id.
   */
  snapshot?: { imageId: string };
  /**
   * Set while a live migration runs: the agent of `host` (the source) has the destination's agent
   * prepare an incoming domain, streams the running domain to it, lets it finish, and reports the
   * destination's state (or the error; the source then still runs the domain). Idempotent: a
   * source that no longer has the domain asks the destination whether it does.
   */
  liveMigration?: {
    destHost: string;
    migrationId: number;
    /** The destination claim's NUMA placement (its own pinned CPUs); absent: the spec's is used. */
    destNuma?: InstanceSpec['numa'];
  };
}

/** Agent → agent: the destination of a live migration starts a domain waiting for the stream. */
export interface PrepareIncomingRequest {
  host: string;
  spec: InstanceSpec;
}

export interface DomainRef {
  host: string;
  instanceId: string;
}

/** Service → source agent: force-complete (2.22) or abort (2.24) the live migration `migrationId`. */
export interface ControlMigrationRequest extends DomainRef {
  migrationId: number;
  op: 'force_complete' | 'abort';
}

/** Service → agent: hot-plug a port's NIC into the domain (or into its definition when it is off). */
export interface AttachInterfaceRequest {
  host: string;
  instanceId: string;
  port: InstanceSpec['ports'][number];
}

/** Service → agent (1.3): hot-plug a volume's disk (or add it to the definition when the domain is off). Idempotent. */
export interface AttachVolumeRequest {
  host: string;
  instanceId: string;
  volume: InstanceVolume;
}

/** Service → agent (1.3): unplug a volume's disk; a disk already gone succeeds. */
export interface DetachVolumeRequest {
  host: string;
  instanceId: string;
  volumeId: string;
}

export interface DetachInterfaceRequest {
  host: string;
  instanceId: string;
  portId: string;
}

/** What the agent saw after converging (or failing to). */
export interface AgentReport {
  host: string;
  instanceId: string;
  generation: number;
  /** Observed: running | paused | suspended | shutoff | crashed | absent */
  state: string;
  /** Set when the agent could not converge; the task ends in ERROR (or a reschedule). */
  error?: string;
  /** True when the failure happened while creating the domain (the scheduler may retry elsewhere). */
  spawnFailed?: boolean;
}

export interface HostReport {
  host: string;
  hypervisorType: string;
  hypervisorVersion: string;
  vcpus: number;
  memoryMb: number;
  localGb: number;
  /**
   * Instances the hypervisor runs (for the reconciler: unknown ones are reported, not killed —
   * except those evacuated away from this host, which the service has destroyed).
   */
  instances: string[];
  /** The first report after the agent (re)started (Nova's init_host). */
  startup?: boolean;
  cpuInfo?: Record<string, unknown>;
  /** Overcommit ratios of this host (Nova's cpu/ram/disk_allocation_ratio, set on the node). */
  cpuAllocationRatio?: number;
  ramAllocationRatio?: number;
  diskAllocationRatio?: number;
  availabilityZone?: string;
  /** Host NUMA cells (host CPU ids and memory of each); absent: the host takes no NUMA or pinned guests. */
  numaTopology?: { cells: { id: number; cpus: number[]; memoryMb: number }[] };
  /** Host CPUs reserved for pinned guests (Nova's cpu_dedicated_set); not in the shared vCPU pool. */
  cpuDedicatedSet?: number[];
  /**
   * The page of this node's noVNC proxy that console URLs point at (Nova's per-node
   * `[vnc] novncproxy_base_url`), e.g. `http://node1:6080/vnc_auto.html`; absent: no proxy on the node.
   */
  consoleUrl?: string;
  /**
   * The node's own uptime and load averages when the report was made (what `uptime` prints on it;
   * Nova's os-hypervisors/{id}/uptime shows that text). Absent from older agents.
   */
  hostUptime?: { seconds: number; load: [number, number, number] };
}

export interface ConsoleOutputRequest {
  host: string;
  instanceId: string;
  maxLines?: number;
}

export interface AgentSnapshotRequest {
  host: string;
  instanceId: string;
  imageId: string;
}

/** changePassword: a synchronous call (the password is never stored nor re-sent). */
export interface SetPasswordRequest {
  host: string;
  instanceId: string;
  /** Guest user (the image's os_admin_user, default root). */
  user: string;
  password: string;
}

export interface DiagnosticsRequest {
  host: string;
  instanceId: string;
}

/**
 * Nova's standardized diagnostics (microversion 2.48) as far as the node knows them; the API adds
 * `config_drive` (an instance attribute). A field the driver does not measure is null, as Nova.
 */
export interface StandardDiagnostics {
  state: 'pending' | 'running' | 'paused' | 'shutdown' | 'crashed' | 'suspended';
  driver: string;
  hypervisor: string | null;
  hypervisor_os: string | null;
  uptime: number | null;
  num_cpus: number;
  num_nics: number;
  num_disks: number;
  /** MiB. */
  memory_details: { maximum: number | null; used: number | null };
  /** `time` in ns. */
  cpu_details: { id: number | null; time: number | null; utilisation: number | null }[];
  nic_details: {
    mac_address: string | null;
    rx_octets: number | null; rx_errors: number | null; rx_drop: number | null; rx_packets: number | null; rx_rate: number | null;
    tx_octets: number | null; tx_errors: number | null; tx_drop: number | null; tx_packets: number | null; tx_rate: number | null;
  }[];
  disk_details: { read_bytes: number | null; read_requests: number | null; write_bytes: number | null; write_requests: number | null; errors_count: number | null }[];
}

export interface GetConsoleRequest {
  host: string;
  instanceId: string;
}

/** A node's console proxy asks whether a token opens a console on one of the hosts it serves. */
export interface ConsoleAuthRequest {
  /** The token from the console URL (the service stores only its hash). */
  token: string;
  /** Hosts served by the asking agent: a token for any other host is refused. */
  hosts: string[];
}

/** What a valid token opens (Nova's ConsoleAuthToken); the RPC fails `not_found` otherwise. */
export interface ConsoleAuthReply {
  instanceId: string;
  host: string;
  consoleType: string;
  /** Where the console is on that host (the VNC unix socket the driver named). */
  internalAccessPath: string;
  /** ISO time the token expires. */
  expires: string;
}

export interface ComputeRpcMethods {
  /**
   * Node console proxy -> service: check a console token (unknown, expired, server deleted or moved,
   * or another host's token → `not_found`). Not a one-time token: reconnects work until it expires.
   */
  console_auth: { request: ConsoleAuthRequest; reply: ConsoleAuthReply };
  /** Agent -> service (cast): result of a sync. */
  agent_report: { request: AgentReport; reply: void };
  /** Agent -> service (cast): heartbeat + capacity of one host. */
  host_report: { request: HostReport; reply: void };
}

/** Methods served by an agent on `agentQueue('compute', host)` = `kumo.compute.<host>` (pattern `compute_agent.<method>`). */
export interface ComputeAgentMethods {
  sync: { request: AgentSyncRequest; reply: void };
  console_output: { request: ConsoleOutputRequest; reply: { output: string } };
  snapshot: { request: AgentSnapshotRequest; reply: { ok: true } };
  prepare_incoming: { request: PrepareIncomingRequest; reply: { uri: string } };
  finish_incoming: { request: DomainRef; reply: { state: string } };
  abort_incoming: { request: DomainRef; reply: { ok: true } };
  /** `state` null when the host has no such domain. */
  domain_state: { request: DomainRef; reply: { state: string | null } };
  attach_interface: { request: AttachInterfaceRequest; reply: { ok: true } };
  detach_interface: { request: DetachInterfaceRequest; reply: { ok: true } };
  attach_volume: { request: AttachVolumeRequest; reply: { ok: true } };
  detach_volume: { request: DetachVolumeRequest; reply: { ok: true } };
  /** Errors carry `details.hypervisorCode` (e.g. GuestAgentUnavailable). */
  set_password: { request: SetPasswordRequest; reply: { ok: true } };
  /** Nova's pre-2.48 free-form diagnostics dict and (1.7+) the 2.48 standardized one, from the driver's counters. */
  diagnostics: { request: DiagnosticsRequest; reply: { diagnostics: Record<string, number | string>; standard?: StandardDiagnostics } };
  /** Where the domain's consoles are on the host (for a console proxy running there). */
  get_console: { request: GetConsoleRequest; reply: { vncSocket?: string; serialSocket?: string } };
  /** An NMI into the guest (driver injectNmi); `conflict` when the domain is not running or paused. */
  trigger_crash_dump: { request: DomainRef; reply: { ok: true } };
  /**
   * `found` false when that migration is not under way on this host (not started yet, or over):
   * nothing is done. An aborted migration is reported by the sync as the error `MigrationCancelled: …`.
   */
  control_migration: { request: ControlMigrationRequest; reply: { found: boolean } };
}

export const AGENT_PATTERN_PREFIX = 'compute_agent.';


export interface InstanceEvent {
  id: string;
  projectId: string;
  userId: string;
  name: string;
  status: string;
  vmState: string;
  taskState: string | null;
  powerState: number;
  host: string | null;
  flavorId: string;
  imageRef: string | null;
  updatedAt: string;
}

export interface ComputeEventPayloads {
  'instance.created': { instance: InstanceEvent };
  /** Every change of vm_state, task_state or power_state. */
  'instance.state_changed': { instance: InstanceEvent; previous: { vmState: string; taskState: string | null } };
  'instance.deleted': { instance: InstanceEvent };
}
