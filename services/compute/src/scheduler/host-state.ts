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
    availabilityZone: r.availability_zone as string,
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
    // An operator's force-down (os-services, 2.11) wins over a fresh heartbeat.
    up: r.forced_down !== true && Date.now() - new Date(r.last_heartbeat as string).getTime() < downAfterS * 1000,
  };
}
