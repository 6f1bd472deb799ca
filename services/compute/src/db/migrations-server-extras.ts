import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * `instance.password`: the guest's encrypted admin password (Nova keeps it in system_metadata as
 * `password_0..3`, posted by the guest to the metadata service); '' or null = none.
 * `instance.disk_config`: `OS-DCF:diskConfig` (AUTO|MANUAL) as requested at create, rebuild or resize.
 */
export class ServerExtras1796000000300 implements MigrationInterface {
  name = 'ServerExtras1796000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance ADD COLUMN IF NOT EXISTS password text`);
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance ADD COLUMN IF NOT EXISTS disk_config text NOT NULL DEFAULT 'MANUAL'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance DROP COLUMN IF EXISTS password`);
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance DROP COLUMN IF EXISTS disk_config`);
  }
}
