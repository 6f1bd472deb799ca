import type { Db } from '../db/db.js';

/**
 * SQL for the availability zone of the compute_node aliased `n`: the `availability_zone` metadata
 * of an aggregate it is in (aggregates.service.ts refuses two different zones for one host, so
 * there is at most one), else the zone its agent reports (`nova` by default). Computed on read,
 * so adding a host to an aggregate moves it at once and nothing has to be kept in sync.
 */
export function hostZoneSql(db: Db, n = 'n'): string {
  return `COALESCE((SELECT a.metadata->>'availability_zone' FROM ${db.t('aggregate_host')} ah JOIN ${db.t('aggregate')} a ON a.id = ah.aggregate_id
    WHERE ah.host = ${n}.host AND a.metadata->>'availability_zone' IS NOT NULL ORDER BY a.id LIMIT 1), ${n}.availability_zone)`;
}

/** SQL for the metadata objects of the aggregates the compute_node aliased `n` is in (a jsonb array). */
export function hostAggregateMetadataSql(db: Db, n = 'n'): string {
  return `(SELECT COALESCE(jsonb_agg(a.metadata ORDER BY a.id), '[]'::jsonb) FROM ${db.t('aggregate_host')} ah JOIN ${db.t('aggregate')} a ON a.id = ah.aggregate_id WHERE ah.host = ${n}.host)`;
}

/** SQL for the NUMA placements of the claims on the compute_node aliased `n` (a jsonb array of arrays). */
export function hostNumaClaimsSql(db: Db, n = 'n'): string {
  return `(SELECT COALESCE(jsonb_agg(c.numa), '[]'::jsonb) FROM ${db.t('claim')} c WHERE c.host = ${n}.host AND c.numa IS NOT NULL)`;
}
