import { freeVcpus } from '../filters/core.filter.js';
import type { HostWeigher } from '../host-state.js';

/** Spread by free vCPUs. */
export const cpuWeigher: HostWeigher = { name: 'CPUWeigher', multiplier: 1.0, weigh: (h) => freeVcpus(h) };
