import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { runMigrations } from '../src/index.js';
import { createTestDatabase, createTestVhost, queueDepth, waitUntil, type TestDatabase, type TestVhost } from '../src/testing/index.js';
import { fixtureVolume } from './fixtures/definitions.js';
import { exited, spawnFixture, testClient } from './helpers.js';

/**
 * A consumer that dies before acking must not lose the message, and the message's effect must
 * happen exactly once: the broker redelivers it to the next consumer, and the inbox recognises
 * what was already committed.
 */
describe('redelivery after a consumer dies before acking (real RabbitMQ + PostgreSQL)', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let sql: pg.Client;
  let client: ReturnType<typeof testClient>;
  const children: ChildProcess[] = [];

  // A failed test must not leave its consumers running (they would hold the vhost and the worker).
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
    await runMigrations(db.url, 'volume', fixtureVolume.database);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    client = testClient(vhost.url);
  }, 60000);

  afterAll(async () => {
    await client?.close();
    await sql?.end();
    await Promise.all([db?.drop(), vhost?.delete()]);
  }, 60000);

  const effects = async (messageId: string) =>
    (await sql.query('SELECT message_id, redelivered, pid FROM volume.fixture_effect WHERE message_id = $1', [messageId])).rows as { redelivered: boolean; pid: number }[];

  // Runs first, on the fresh vhost: nobody has declared kumo.volume yet (a fresh broker at boot).
  it('keeps a cast sent before any consumer declared the queue, and the consumer handles it when it starts', async () => {
    expect(await queueDepth(vhost.name, 'kumo.volume')).toBeUndefined();
    const messageId = await client.transport.cast('kumo.volume', 'volume.record', { tag: 'before-consumer' });
    expect((await queueDepth(vhost.name, 'kumo.volume'))?.ready).toBe(1);
    const late = spawnFixture({ KUMO_DATABASE_URL: db.url, KUMO_AMQP_URL: vhost.url, KUMO_VOLUME_PORT: '0' });
    children.push(late);
    try {
      await waitUntil('the early cast to be handled', async () => (await effects(messageId)).length === 1, { timeoutMs: 90000, intervalMs: 200 });
    } finally {
      late.kill('SIGTERM');
      await exited(late);
    }
  }, 240000);

  for (const crash of ['before-commit', 'after-commit'] as const) {
    it(`handles the message exactly once when the consumer is killed ${crash}`, async () => {
      const env = { KUMO_DATABASE_URL: db.url, KUMO_AMQP_URL: vhost.url, KUMO_VOLUME_PORT: '0' };
      const doomed = spawnFixture({ ...env, FIXTURE_CRASH: crash });
      children.push(doomed);
      await waitUntil('the doomed consumer to consume kumo.volume', async () => (await queueDepth(vhost.name, 'kumo.volume')) !== undefined && /consuming kumo.volume/.test(doomed.output()), { timeoutMs: 90000, intervalMs: 200 });

      const messageId = await client.transport.cast('kumo.volume', 'volume.record', { tag: crash });
      const death = await exited(doomed);
      expect(death.signal).toBe('SIGKILL');
      expect(await effects(messageId)).toHaveLength(crash === 'after-commit' ? 1 : 0);

      const survivor = spawnFixture(env);
      children.push(survivor);
      try {
        await waitUntil('the message to be handled and acked by the second consumer', async () => {
          const rows = await effects(messageId);
          const depth = await queueDepth(vhost.name, 'kumo.volume');
          return rows.length === 1 && depth?.ready === 0 && depth.unacked === 0;
        }, { timeoutMs: 90000, intervalMs: 200 });
        const rows = await effects(messageId);
        expect(rows).toHaveLength(1);
        if (crash === 'before-commit') {
          // The first attempt rolled back; the survivor did the work, knowing it was a redelivery.
          expect(rows[0]).toMatchObject({ redelivered: true, pid: survivor.pid });
        } else {
          // The first attempt committed; the survivor recognised the duplicate and only acked.
          expect(rows[0]!.pid).toBe(doomed.pid);
        }
      } finally {
        survivor.kill('SIGTERM');
        await exited(survivor);
      }
    }, 240000);
  }
});
