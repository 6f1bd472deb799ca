import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * Volume attachments (os-volume_attachments): `instance.volumes` lists the server's volumes as
 * VolumeAttachmentEntry (servers/instance.model.ts), like `ports` lists its ports. An entry is
 * written `attaching`/`detaching` before any other service is asked, so an interrupted attach or
 * detach is found and finished by the reconciler.
 */
export class Volumes1795000000200 implements MigrationInterface {
  name = 'Volumes1795000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance ADD COLUMN IF NOT EXISTS volumes jsonb NOT NULL DEFAULT '[]'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance DROP COLUMN IF EXISTS volumes`);
  }
}
