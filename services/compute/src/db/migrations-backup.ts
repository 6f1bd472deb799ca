import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * `instance.backup`: the running createBackup's `{type, rotation}` (null otherwise). The rotation
 * runs when the backup's snapshot is filled (as Nova's compute manager rotates after the upload),
 * which is long after the API request: the conductor reads what to rotate from here.
 */
export class InstanceBackup1796000000200 implements MigrationInterface {
  name = 'InstanceBackup1796000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance ADD COLUMN IF NOT EXISTS backup jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance DROP COLUMN IF EXISTS backup`);
  }
}
