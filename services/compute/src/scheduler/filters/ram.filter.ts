import type { HostFilter, HostState } from '../host-state.js';

export function freeRamMb(h: HostState): number {
  return Math.floor(h.memoryMb * h.ramAllocationRatio) - h.memoryMbUsed;
}

/** Enough RAM, with the host's RAM allocation ratio. */
export const ramFilter: HostFilter = { name: 'RamFilter', passes: (h, s) => freeRamMb(h) >= s.memoryMb };
