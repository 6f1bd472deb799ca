import type { HostFilter } from '../host-state.js';

/** A rescheduled build never goes back to a host it already failed on. */
export const retryFilter: HostFilter = { name: 'RetryFilter', passes: (h, s) => !s.excludedHosts.includes(h.host) };
