import type { HostFilter } from '../host-state.js';

/** Hosts whose service is enabled and whose agent sent a heartbeat recently (Nova's ComputeFilter). */
export const computeFilter: HostFilter = { name: 'ComputeFilter', passes: (h) => h.enabled && h.up };
