import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * Host aggregates and the NUMA/pinning fit.
 *
 * `aggregate` + `aggregate_host` are Nova's aggregates (metadata as one jsonb object; the
 * availability zone is the metadata key `availability_zone`, as in Nova, so a host's zone is the
 * zone of its aggregate, else the zone its agent reports). Deleted aggregates are removed (Nova
 * soft-deletes them but never shows them).
 *
 * `compute_node.numa_topology` is what the agent reports: `{cells: [{id, cpus, memoryMb}]}`;
 * `compute_node.cpu_dedicated_set` the host CPUs guests may be pinned to (Nova's
 * `[compute] cpu_dedicated_set`; empty: the host takes no pinned guests).
 * `claim.numa` is where a claim sits: `[{cell, memoryMb, vcpus, cpus}]` (`cpus` = the pinned host
 * CPUs, empty for a floating guest). Usage per cell is always summed from the claims, read after
 * the host row is locked, so there is no second counter that could drift, and releasing a claim
 * (DELETE) frees its pinned CPUs with it.
 */
export class Aggregates1795000000300 implements MigrationInterface {
  name = 'Aggregates1795000000300';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE IF NOT EXISTS ${s}.aggregate (
        id serial PRIMARY KEY,
        uuid uuid NOT NULL,
        name varchar(255) NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz
      );
      CREATE UNIQUE INDEX IF NOT EXISTS aggregate_name ON ${s}.aggregate (name);
      CREATE TABLE IF NOT EXISTS ${s}.aggregate_host (
        aggregate_id integer NOT NULL REFERENCES ${s}.aggregate(id) ON DELETE CASCADE,
        host varchar(255) NOT NULL,
        PRIMARY KEY (aggregate_id, host)
      );
      CREATE INDEX IF NOT EXISTS aggregate_host_host ON ${s}.aggregate_host (host);
      ALTER TABLE ${s}.compute_node ADD COLUMN IF NOT EXISTS numa_topology jsonb;
      ALTER TABLE ${s}.compute_node ADD COLUMN IF NOT EXISTS cpu_dedicated_set jsonb NOT NULL DEFAULT '[]';
      ALTER TABLE ${s}.claim ADD COLUMN IF NOT EXISTS numa jsonb;
      CREATE INDEX IF NOT EXISTS claim_host_numa ON ${s}.claim (host) WHERE numa IS NOT NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      DROP TABLE IF EXISTS ${s}.aggregate_host;
      DROP TABLE IF EXISTS ${s}.aggregate;
      ALTER TABLE ${s}.compute_node DROP COLUMN IF EXISTS numa_topology, DROP COLUMN IF EXISTS cpu_dedicated_set;
      DROP INDEX IF EXISTS ${s}.claim_host_numa;
      ALTER TABLE ${s}.claim DROP COLUMN IF EXISTS numa;
    `);
  }
}
