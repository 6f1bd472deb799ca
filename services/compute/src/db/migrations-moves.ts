import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * Moves between hosts (cold migration, resize to another host, live migration) and what the
 * microversions up to 2.37 show.
 *
 * `migration` is Nova's migrations table: one row per move, listed by `GET /os-migrations`.
 * `instance.task_host` is the host whose agent must report to end the current step of a task when
 * that is not `instance.host` (the source of a move while it powers off or cleans up); null = `host`.
 * `instance.migration_id` is the move in progress or awaiting confirmation.
 */
export class Moves1764700000010 implements MigrationInterface {
  name = 'Moves1764700000010';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE IF NOT EXISTS ${s}.migration (
        id serial PRIMARY KEY,
        uuid uuid NOT NULL,
        instance_id uuid NOT NULL,
        project_id varchar(255) NOT NULL,
        user_id varchar(255) NOT NULL,
        migration_type varchar(32) NOT NULL,
        status varchar(32) NOT NULL,
        source_compute varchar(255),
        dest_compute varchar(255),
        old_flavor_seq integer,
        new_flavor_seq integer,
        -- the source's spec version: a revert gives the source back the domain it still has
        source_spec_version integer,
        error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz
      );
      CREATE INDEX IF NOT EXISTS migration_instance ON ${s}.migration (instance_id, id);
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS task_host varchar(255);
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS migration_id integer;
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS description text;
      CREATE TABLE IF NOT EXISTS ${s}.instance_tag (
        instance_id uuid NOT NULL,
        tag varchar(60) NOT NULL,
        PRIMARY KEY (instance_id, tag)
      );
      CREATE INDEX IF NOT EXISTS instance_tag_tag ON ${s}.instance_tag (tag);
      ALTER TABLE ${s}.compute_node ADD COLUMN IF NOT EXISTS forced_down boolean NOT NULL DEFAULT false;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`DROP TABLE IF EXISTS ${s}.migration; DROP TABLE IF EXISTS ${s}.instance_tag;
      ALTER TABLE ${s}.instance DROP COLUMN IF EXISTS task_host, DROP COLUMN IF EXISTS migration_id, DROP COLUMN IF EXISTS description;
      ALTER TABLE ${s}.compute_node DROP COLUMN IF EXISTS forced_down;`);
  }
}
