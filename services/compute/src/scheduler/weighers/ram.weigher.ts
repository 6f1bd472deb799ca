import { freeRamMb } from '../filters/ram.filter.js';
import type { HostWeigher } from '../host-state.js';

/** Spread by free RAM (positive multiplier), as Nova's RAMWeigher does by default. */
export const ramWeigher: HostWeigher = { name: 'RAMWeigher', multiplier: 1.0, weigh: (h) => freeRamMb(h) };
