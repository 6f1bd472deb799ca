import type { HostFilter } from '../host-state.js';

/** The requested availability zone (and the admin's forced host of `az:host`). */
export const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  passes: (h, s) => (!s.availabilityZone || h.availabilityZone === s.availabilityZone) && (!s.forcedHost || h.host === s.forcedHost),
};
