import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * The image schema. Deleted images keep their row (status `deleted`, `deleted_at`), as in
 * Glance: their ids are never reused, and `GET` answers 404 for them. Members, tasks and
 * metadef items cascade with their parent.
 */
export class ImageSchema1764500000000 implements MigrationInterface {
  name = 'ImageSchema1764500000000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE ${s}.image (
        id uuid PRIMARY KEY,
        name varchar(255),
        status varchar(20) NOT NULL,
        visibility varchar(20) NOT NULL,
        protected boolean NOT NULL DEFAULT false,
        os_hidden boolean NOT NULL DEFAULT false,
        owner varchar(255),
        disk_format varchar(20),
        container_format varchar(20),
        size bigint,
        virtual_size bigint,
        checksum varchar(32),
        os_hash_algo varchar(64),
        os_hash_value varchar(128),
        min_ram integer NOT NULL DEFAULT 0,
        min_disk integer NOT NULL DEFAULT 0,
        properties jsonb NOT NULL DEFAULT '{}',
        tags text[] NOT NULL DEFAULT '{}',
        store varchar(32),
        location text,
        failure_reason text,
        staged jsonb,
        upload_owner varchar(255),
        upload_started_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE INDEX image_owner_ix ON ${s}.image (owner) WHERE status <> 'deleted';
      CREATE INDEX image_visibility_ix ON ${s}.image (visibility) WHERE status <> 'deleted';
      CREATE INDEX image_created_ix ON ${s}.image (created_at DESC, id DESC);
      CREATE INDEX image_name_ix ON ${s}.image (name);
      CREATE INDEX image_status_ix ON ${s}.image (status);
      CREATE INDEX image_tags_ix ON ${s}.image USING gin (tags);
      CREATE INDEX image_properties_ix ON ${s}.image USING gin (properties jsonb_path_ops);

      CREATE TABLE ${s}.image_member (
        image_id uuid NOT NULL REFERENCES ${s}.image(id) ON DELETE CASCADE,
        member_id varchar(255) NOT NULL,
        status varchar(20) NOT NULL DEFAULT 'pending',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (image_id, member_id)
      );
      CREATE INDEX image_member_member_ix ON ${s}.image_member (member_id, status);

      CREATE TABLE ${s}.image_task (
        id uuid PRIMARY KEY,
        image_id uuid NOT NULL REFERENCES ${s}.image(id) ON DELETE CASCADE,
        type varchar(64) NOT NULL,
        status varchar(20) NOT NULL,
        owner varchar(255),
        user_id varchar(255),
        request_id varchar(128),
        input jsonb NOT NULL DEFAULT '{}',
        result jsonb,
        message text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz
      );
      CREATE INDEX image_task_image_ix ON ${s}.image_task (image_id);

      CREATE TABLE ${s}.project_quota (
        project_id varchar(255) PRIMARY KEY,
        max_images integer,
        max_bytes bigint,
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE ${s}.event_outbox (
        id bigserial PRIMARY KEY,
        event varchar(64) NOT NULL,
        payload jsonb NOT NULL,
        request_id varchar(128),
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE ${s}.metadef_namespace (
        namespace varchar(80) PRIMARY KEY,
        display_name varchar(80),
        description text,
        visibility varchar(32) NOT NULL DEFAULT 'private',
        protected boolean NOT NULL DEFAULT false,
        owner varchar(255),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.metadef_item (
        namespace varchar(80) NOT NULL REFERENCES ${s}.metadef_namespace(namespace) ON DELETE CASCADE ON UPDATE CASCADE,
        kind varchar(16) NOT NULL,
        name varchar(255) NOT NULL,
        body jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, kind, name)
      );
      CREATE TABLE ${s}.metadef_resource_type (
        name varchar(255) PRIMARY KEY,
        protected boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      INSERT INTO ${s}.metadef_resource_type (name) VALUES
        ('OS::Glance::Image'), ('OS::Cinder::Volume'), ('OS::Nova::Flavor'), ('OS::Nova::Aggregate'), ('OS::Nova::Server');
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    for (const t of ['metadef_item', 'metadef_namespace', 'metadef_resource_type', 'event_outbox', 'project_quota', 'image_task', 'image_member', 'image']) {
      await q.query(`DROP TABLE IF EXISTS ${s}.${t}`);
    }
  }
}
