import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * `compute_node.console_url`: the page of the node's noVNC proxy that console URLs point at, as
 * its agent reports it (Nova's per-node `[vnc] novncproxy_base_url`); null: the node runs no proxy.
 */
export class Consoles1795000000400 implements MigrationInterface {
  name = 'Consoles1795000000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.compute_node ADD COLUMN IF NOT EXISTS console_url varchar(1024)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.compute_node DROP COLUMN IF EXISTS console_url`);
  }
}
