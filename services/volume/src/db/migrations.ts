import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The quoted name of the schema a migration runs in (the service's own). */
export function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * The volume schema. Deleted volumes keep their row (status `deleted`, `deleted_at`), as Cinder's
 * soft delete: ids are never reused and GET answers 404 for them. One attachment per volume at
 * most (no multiattach): the unique index makes a second reservation impossible even when two
 * requests race.
 */
export class VolumeSchema1764800000000 implements MigrationInterface {
  name = 'VolumeSchema1764800000000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE ${s}.volume (
        id uuid PRIMARY KEY,
        project_id varchar(255) NOT NULL,
        user_id varchar(255),
        name varchar(255),
        description text,
        size integer NOT NULL,
        status varchar(20) NOT NULL,
        bootable boolean NOT NULL DEFAULT false,
        image_id uuid,
        image_metadata jsonb,
        metadata jsonb NOT NULL DEFAULT '{}',
        create_owner varchar(255),
        failure_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE INDEX volume_project_ix ON ${s}.volume (project_id, created_at DESC) WHERE status <> 'deleted';
      CREATE INDEX volume_status_ix ON ${s}.volume (status) WHERE status <> 'deleted';

      CREATE TABLE ${s}.volume_attachment (
        id uuid PRIMARY KEY,
        volume_id uuid NOT NULL REFERENCES ${s}.volume(id) ON DELETE CASCADE,
        server_id varchar(255) NOT NULL,
        status varchar(20) NOT NULL,
        host varchar(255),
        device varchar(255),
        reserved_at timestamptz NOT NULL DEFAULT now(),
        attached_at timestamptz
      );
      CREATE UNIQUE INDEX volume_attachment_volume_ux ON ${s}.volume_attachment (volume_id);
      CREATE INDEX volume_attachment_server_ix ON ${s}.volume_attachment (server_id);

      CREATE TABLE ${s}.event_outbox (
        id bigserial PRIMARY KEY,
        event varchar(64) NOT NULL,
        payload jsonb NOT NULL,
        request_id varchar(128),
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    for (const t of ['event_outbox', 'volume_attachment', 'volume']) await q.query(`DROP TABLE IF EXISTS ${s}.${t}`);
  }
}
