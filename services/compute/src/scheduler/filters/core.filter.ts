import type { HostFilter, HostState } from '../host-state.js';

export function freeVcpus(h: HostState): number {
  return Math.floor(h.vcpus * h.cpuAllocationRatio) - h.vcpusUsed;
}

/** Enough vCPUs, with the host's CPU allocation ratio (overcommit). */
export const coreFilter: HostFilter = { name: 'CoreFilter', passes: (h, s) => freeVcpus(h) >= s.vcpus };
