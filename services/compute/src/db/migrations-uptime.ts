import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * `compute_node.host_uptime`: the node's uptime (seconds) and load averages from its agent's last
 * report, `{seconds, load: [1, 5, 15]}`; null until an agent that reports it has reported.
 */
export class HostUptime1795000000500 implements MigrationInterface {
  name = 'HostUptime1795000000500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.compute_node ADD COLUMN IF NOT EXISTS host_uptime jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.compute_node DROP COLUMN IF EXISTS host_uptime`);
  }
}
