import type { HostFilter } from '../host-state.js';

const SCOPE = 'aggregate_instance_extra_specs:';

/**
 * Nova's AggregateInstanceExtraSpecsFilter: every flavor extra spec `aggregate_instance_extra_specs:key=value`
 * must be matched by the metadata `key` of one of the host's aggregates (values compared as
 * strings; a metadata value may list several, comma-separated, as in Nova). Unscoped extra specs
 * are left alone here (hw:* and quota:* are for the hypervisor, not for aggregates), so a flavor
 * without scoped specs passes everywhere.
 */
export const aggregateInstanceExtraSpecsFilter: HostFilter = {
  name: 'AggregateInstanceExtraSpecsFilter',
  passes: (h, s) => {
    for (const [k, want] of Object.entries(s.extraSpecs)) {
      if (!k.startsWith(SCOPE)) continue;
      const key = k.slice(SCOPE.length);
      const values = new Set(
        h.aggregateMetadata.flatMap((m) =>
          m[key] === undefined
            ? []
            : String(m[key])
                .split(',')
                .map((v) => v.trim()),
        ),
      );
      if (!values.has(String(want).trim())) return false;
    }
    return true;
  },
};
