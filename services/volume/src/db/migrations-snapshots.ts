import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaOf } from './migrations.js';

/**
 * Volume snapshots (Cinder's snapshots API; Nova's os-snapshots proxy uses it). Soft-deleted as
 * volumes are (status `deleted`, `deleted_at`): ids are never reused. A live snapshot keeps its
 * volume from being deleted (Cinder's "Volume still has N dependent snapshots").
 */
export class VolumeSnapshots1796000000100 implements MigrationInterface {
  name = 'VolumeSnapshots1796000000100';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE IF NOT EXISTS ${s}.volume_snapshot (
        id uuid PRIMARY KEY,
        volume_id uuid NOT NULL REFERENCES ${s}.volume(id),
        project_id varchar(255) NOT NULL,
        user_id varchar(255),
        name varchar(255),
        description text,
        size integer NOT NULL,
        status varchar(20) NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        create_owner varchar(255),
        failure_reason text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE INDEX IF NOT EXISTS volume_snapshot_project_ix ON ${s}.volume_snapshot (project_id, created_at DESC) WHERE status <> 'deleted';
      CREATE INDEX IF NOT EXISTS volume_snapshot_volume_ix ON ${s}.volume_snapshot (volume_id) WHERE status <> 'deleted';
      CREATE INDEX IF NOT EXISTS volume_snapshot_status_ix ON ${s}.volume_snapshot (status) WHERE status <> 'deleted';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS ${schemaOf(q)}.volume_snapshot`);
  }
}

/** `volume.snapshot_id`: the snapshot a volume was made from (Cinder shows it; null otherwise). */
export class VolumeFromSnapshot1796000000101 implements MigrationInterface {
  name = 'VolumeFromSnapshot1796000000101';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.volume ADD COLUMN IF NOT EXISTS snapshot_id uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.volume DROP COLUMN IF EXISTS snapshot_id`);
  }
}
