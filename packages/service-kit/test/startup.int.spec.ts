import { exited, spawnFixture } from './helpers.js';

describe('start-up configuration', () => {
  it('refuses to start with a wrong value, naming the variable, with exit status 78', async () => {
    const child = spawnFixture({ KUMO_DATABASE_URL: 'mysql://root:hunter2@db/kumo', KUMO_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/x', KUMO_VOLUME_PORT: 'eighty', KUMO_LOG_LEVEL: 'loud' });
    const { code } = await exited(child);
    expect(code).toBe(78);
    const out = child.output();
    expect(out).toContain('kumo-volume: invalid configuration, not starting');
    expect(out).toMatch(/KUMO_DATABASE_URL: must be a postgres or postgresql URL/);
    expect(out).toMatch(/KUMO_VOLUME_PORT: must be an integer between 1 and 65535 \(0 picks a free port\) \(got "eighty"\)/);
    expect(out).toMatch(/KUMO_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/);
    expect(out).not.toContain('hunter2');
  }, 120000);

  it('refuses to start on a schema with pending migrations and says how to fix it', async () => {
    const { createTestDatabase } = await import('../src/testing/index.js');
    const db = await createTestDatabase();
    try {
      const child = spawnFixture({ KUMO_DATABASE_URL: db.url, KUMO_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/', KUMO_VOLUME_PORT: '0' });
      const { code } = await exited(child);
      expect(code).toBe(1);
      expect(child.output()).toMatch(/database schema "volume" is not up to date: 2 pending migration\(s\).*Run '.\/kumo migrate'/);
    } finally {
      await db.drop();
    }
  }, 120000);
});
