/** What the scheduler knows of one host when it decides (a compute_node row + liveness). */
export interface HostState {
  host: string;
  availabilityZone: string;
  hypervisorType: string;
  vcpus: number;
  vcpusUsed: number;
  memoryMb: number;
  memoryMbUsed: number;
  localGb: number;
  localGbUsed: number;
  runningVms: number;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  diskAllocationRatio: number;
  enabled: boolean;
  up: boolean;
  /** Metadata of every aggregate the host is in (AggregateInstanceExtraSpecsFilter). */
  aggregateMetadata: Record<string, string>[];
  /** NUMA cells the agent reports (null: not reported, i.e. the host takes no NUMA guests). */
  numaCells: NumaCell[] | null;
  /** Host CPUs for pinned guests (Nova's cpu_dedicated_set); they are not in the shared vCPU pool. */
  dedicatedCpus: number[];
  /** Where the host's NUMA claims sit (summed per cell; pinned CPUs are their `cpus`). */
  numaUsage: NumaCellClaim[];
}

export interface NumaCell {
  id: number;
  cpus: number[];
  memoryMb: number;
}

/** One guest NUMA node placed on a host cell: its memory, vCPUs and (pinned guests) the host CPUs. */
export interface NumaCellClaim {
  cell: number;
  memoryMb: number;
  vcpus: number;
  cpus: number[];
}

/** `hw:numa_nodes` / `hw:cpu_policy=dedicated` of a flavor (null: a floating guest, no NUMA fit). */
export interface NumaRequest {
  nodes: number;
  dedicated: boolean;
  vcpus: number;
  memoryMb: number;
}

/** What one instance needs. */
export interface RequestSpec {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  availabilityZone: string | null;
  /** Admin's `az:host` boot. */
  forcedHost: string | null;
  imageProperties: Record<string, string>;
  /** Hosts already tried by this build (retries go elsewhere). */
  excludedHosts: string[];
  group: { policy: string; hosts: string[] } | null;
  /** The flavor's extra specs (aggregate_instance_extra_specs:*). */
  extraSpecs: Record<string, string>;
  numa: NumaRequest | null;
}

export interface HostFilter {
  readonly name: string;
  passes(host: HostState, spec: RequestSpec): boolean;
}

export interface HostWeigher {
  readonly name: string;
  /** Raw weight; the scheduler normalises each weigher to 0..1 across candidates, then × multiplier. */
  weigh(host: HostState, spec: RequestSpec): number;
  readonly multiplier: number;
}

export function hostStateOf(r: Record<string, unknown>, downAfterS: number): HostState {
  return {
    host: r.host as string,
    // The zone of the host's aggregate wins over the one its agent reports (Nova: aggregate metadata).
    availabilityZone: (r.effective_az ?? r.availability_zone) as string,
    hypervisorType: r.hypervisor_type as string,
    vcpus: r.vcpus as number,
    vcpusUsed: r.vcpus_used as number,
    memoryMb: r.memory_mb as number,
    memoryMbUsed: r.memory_mb_used as number,
    localGb: r.local_gb as number,
    localGbUsed: r.local_gb_used as number,
    runningVms: r.running_vms as number,
    cpuAllocationRatio: r.cpu_allocation_ratio as number,
    ramAllocationRatio: r.ram_allocation_ratio as number,
    diskAllocationRatio: r.disk_allocation_ratio as number,
    enabled: r.enabled as boolean,
    aggregateMetadata: (r.aggregate_metadata as Record<string, string>[] | undefined) ?? [],
    numaCells: (r.numa_topology as { cells?: NumaCell[] } | null)?.cells ?? null,
    dedicatedCpus: (r.cpu_dedicated_set as number[] | undefined) ?? [],
    numaUsage: ((r.numa_claims as NumaCellClaim[][] | undefined) ?? []).flat(),
    // An operator's force-down (os-services, 2.11) wins over a fresh heartbeat.
    up: r.forced_down !== true && Date.now() - new Date(r.last_heartbeat as string).getTime() < downAfterS * 1000,
  };
}
