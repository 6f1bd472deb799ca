import type { HostFilter, HostState } from '../host-state.js';

/** Shared (floating) vCPUs left: the dedicated set is not in this pool (Nova's VCPU vs PCPU). */
export function freeVcpus(h: HostState): number {
  return Math.floor((h.vcpus - h.dedicatedCpus.length) * h.cpuAllocationRatio) - h.vcpusUsed;
}

/**
 * Enough shared vCPUs, with the host's CPU allocation ratio (overcommit). Pinned guests take
 * dedicated CPUs instead (NUMATopologyFilter), none of the shared pool.
 */
export const coreFilter: HostFilter = { name: 'CoreFilter', passes: (h, s) => s.numa?.dedicated === true || freeVcpus(h) >= s.vcpus };
