import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  const schema = (q.connection.options as { schema?: string }).schema;
  if (!schema) throw new Error('a Kumo data source always has a schema');
  return `"${schema.replace(/"/g, '""')}"`;
}

/** Shared by every service: the inbox table of InboxMessage in the service's own schema. */
export class CreateInbox1764230400000 implements MigrationInterface {
  name = 'CreateInbox1764230400000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`CREATE TABLE ${s}."inbox_message" (
      "id" text PRIMARY KEY,
      "pattern" text NOT NULL,
      "result" jsonb,
      "handled_at" timestamptz NOT NULL DEFAULT now())`);
    await q.query(`CREATE INDEX "inbox_message_handled_at" ON ${s}."inbox_message" ("handled_at")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE ${schemaOf(q)}."inbox_message"`);
  }
}
