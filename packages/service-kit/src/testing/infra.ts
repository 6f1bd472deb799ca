import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/**
 * Real infrastructure for integration tests: a fresh PostgreSQL database and a fresh RabbitMQ
 * vhost per test file, removed afterwards. Admin access comes from
 *   KUMO_TEST_PG_ADMIN_URL   (default postgres://postgres@127.0.0.1:5432/postgres)
 *   KUMO_TEST_AMQP_USER/PASSWORD (default guest/guest, which RabbitMQ allows from localhost)
 * and `rabbitmqctl` on PATH (root, same machine as the broker).
 */
export const PG_ADMIN_URL = process.env.KUMO_TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const AMQP_USER = process.env.KUMO_TEST_AMQP_USER ?? 'guest';
const AMQP_PASSWORD = process.env.KUMO_TEST_AMQP_PASSWORD ?? 'guest';
const AMQP_HOST = process.env.KUMO_TEST_AMQP_HOST ?? '127.0.0.1:5672';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'kumo_test'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['-q', ...args], { timeout: 60000 });
  return stdout;
}

export interface TestVhost {
  name: string;
  url: string;
  delete(): Promise<void>;
}

export async function createTestVhost(prefix = 'kumo-test'): Promise<TestVhost> {
  const name = uniqueName(prefix).replace(/_/g, '-');
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, AMQP_USER, '.*', '.*', '.*');
  return {
    name,
    url: `amqp://${encodeURIComponent(AMQP_USER)}:${encodeURIComponent(AMQP_PASSWORD)}@${AMQP_HOST}/${encodeURIComponent(name)}`,
    async delete() {
      await rabbitmqctl('delete_vhost', name).catch(() => undefined);
    },
  };
}

/** Number of messages ready + unacknowledged on a queue of a vhost. */
export async function queueDepth(vhost: string, queue: string): Promise<{ ready: number; unacked: number } | undefined> {
  const out = await rabbitmqctl('list_queues', '-p', vhost, '--no-table-headers', 'name', 'messages_ready', 'messages_unacknowledged');
  for (const line of out.split('\n')) {
    const [name, ready, unacked] = line.trim().split(/\s+/);
    if (name === queue) return { ready: Number(ready), unacked: Number(unacked) };
  }
  return undefined;
}
