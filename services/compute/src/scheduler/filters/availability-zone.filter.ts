import type { HostFilter } from '../host-state.js';

/**
 * The requested availability zone (and the admin's forced host of `az:host`). A host's zone is
 * the `availability_zone` metadata of its aggregate, else the zone its agent reports
 * (`hostStateOf` reads `effective_az`, see aggregates/host-zone.ts).
 */
export const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  passes: (h, s) => (!s.availabilityZone || h.availabilityZone === s.availabilityZone) && (!s.forcedHost || h.host === s.forcedHost),
};
