import type { HostWeigher } from '../host-state.js';

/** soft-affinity prefers the group's hosts, soft-anti-affinity avoids them (never filters). */
export const softAffinityWeigher: HostWeigher = {
  name: 'ServerGroupSoftAffinityWeigher',
  multiplier: 10.0,
  weigh: (h, s) => {
    if (!s.group) return 0;
    const members = s.group.hosts.filter((x) => x === h.host).length;
    if (s.group.policy === 'soft-affinity') return members;
    if (s.group.policy === 'soft-anti-affinity') return -members;
    return 0;
  },
};
