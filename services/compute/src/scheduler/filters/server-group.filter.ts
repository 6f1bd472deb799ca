import type { HostFilter } from '../host-state.js';

/** Server groups: affinity → the group's host (if it has one yet); anti-affinity → a host without members. */
export const serverGroupFilter: HostFilter = {
  name: 'ServerGroupFilter',
  passes: (h, s) => {
    if (!s.group) return true;
    if (s.group.policy === 'affinity') return s.group.hosts.length === 0 || s.group.hosts.includes(h.host);
    if (s.group.policy === 'anti-affinity') return !s.group.hosts.includes(h.host);
    return true; // soft-* policies only weigh
  },
};
