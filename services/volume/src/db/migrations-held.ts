import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaOf } from './migrations.js';

/**
 * `volume_attachment.held`: a reservation made for a server without a host (Nova's
 * attachment_create without a connector, for a shelved_offloaded server). It stays `reserved`
 * until the server unshelves (attach) or lets it go (detach); the reconciler does not expire it.
 */
export class VolumeAttachmentHeld1765900000000 implements MigrationInterface {
  name = 'VolumeAttachmentHeld1765900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.volume_attachment ADD COLUMN IF NOT EXISTS held boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.volume_attachment DROP COLUMN IF EXISTS held`);
  }
}
