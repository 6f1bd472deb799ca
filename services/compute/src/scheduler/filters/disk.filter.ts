import type { HostFilter, HostState } from '../host-state.js';

export function freeDiskGb(h: HostState): number {
  return Math.floor(h.localGb * h.diskAllocationRatio) - h.localGbUsed;
}

/** Enough local disk for the root disk, with the host's disk allocation ratio. */
export const diskFilter: HostFilter = { name: 'DiskFilter', passes: (h, s) => freeDiskGb(h) >= s.diskGb };
