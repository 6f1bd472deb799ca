import { aggregateInstanceExtraSpecsFilter } from './filters/aggregate-instance-extra-specs.filter.js';
import { availabilityZoneFilter } from './filters/availability-zone.filter.js';
import { computeFilter } from './filters/compute.filter.js';
import { coreFilter } from './filters/core.filter.js';
import { diskFilter } from './filters/disk.filter.js';
import { imagePropertiesFilter } from './filters/image-properties.filter.js';
import { numaTopologyFilter } from './filters/numa-topology.filter.js';
import { ramFilter } from './filters/ram.filter.js';
import { retryFilter } from './filters/retry.filter.js';
import { serverGroupFilter } from './filters/server-group.filter.js';
import type { HostFilter, HostState, HostWeigher, RequestSpec } from './host-state.js';
import { cpuWeigher } from './weighers/cpu.weigher.js';
import { ramWeigher } from './weighers/ram.weigher.js';
import { softAffinityWeigher } from './weighers/soft-affinity.weigher.js';

export const FILTERS: HostFilter[] = [
  computeFilter,
  retryFilter,
  availabilityZoneFilter,
  aggregateInstanceExtraSpecsFilter,
  imagePropertiesFilter,
  serverGroupFilter,
  ramFilter,
  coreFilter,
  diskFilter,
  numaTopologyFilter,
];
export const WEIGHERS: HostWeigher[] = [ramWeigher, cpuWeigher, softAffinityWeigher];
/** Filters re-checked on the locked row inside the claim transaction. */
export const CAPACITY_FILTERS: HostFilter[] = [ramFilter, coreFilter, diskFilter, numaTopologyFilter];

/**
 * Filters, then orders the survivors best-first. Pure: unit-tested without a database. Ties are
 * broken randomly so concurrent boots do not all queue on the same host's row lock.
 */
export function rankHosts(hosts: HostState[], spec: RequestSpec, filters = FILTERS, weighers = WEIGHERS): HostState[] {
  const passing = hosts.filter((h) => filters.every((f) => f.passes(h, spec)));
  if (passing.length <= 1) return passing;
  const score = new Map<string, number>(passing.map((h) => [h.host, Math.random() * 1e-6]));
  for (const w of weighers) {
    const raw = passing.map((h) => w.weigh(h, spec));
    const lo = Math.min(...raw);
    const hi = Math.max(...raw);
    passing.forEach((h, i) => score.set(h.host, score.get(h.host)! + (hi === lo ? 0 : ((raw[i]! - lo) / (hi - lo)) * w.multiplier)));
  }
  return passing.sort((a, b) => score.get(b.host)! - score.get(a.host)!);
}
