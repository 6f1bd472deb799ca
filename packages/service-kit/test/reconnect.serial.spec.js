import request from 'supertest';
import { createTestDatabase, PrivateBroker, startTestService, waitUntil } from '../src/testing/index.js';
import { plainService } from './fixtures/definitions.js';
import { testClient } from './helpers.js';
/**
 * `rabbitmqctl stop_app` / `start_app` on a broker node of the test's own, so that the machine's
 * shared broker (and every other test using it) is left alone.
 */
describe('reconnect after a broker restart', () => {
    const broker = new PrivateBroker(5690 + (process.pid % 50));
    let db;
    let compute;
    let identity;
    let client;
    beforeAll(async () => {
        [db] = await Promise.all([createTestDatabase(), broker.start()]);
        const opts = { databaseUrl: db.url, amqpUrl: broker.url };
        [compute, identity] = await Promise.all([startTestService(plainService('compute', 'nova'), opts), startTestService(plainService('identity', 'keystone'), opts)]);
        client = testClient(broker.url);
    }, 120000);
    afterAll(async () => {
        await client?.close();
        await Promise.all([compute?.close(), identity?.close()]);
        await Promise.all([db?.drop(), broker.stop()]);
    }, 60000);
    it('reports the broker down while it is stopped, then reconnects and serves RPCs again', async () => {
        const before = await client.transport.client('compute').call('ping', { nonce: 'before', relayTo: 'identity' });
        expect(before.relayed?.service).toBe('identity');
        await broker.stopApp();
        await waitUntil('/healthz to report the broker down', async () => {
            const res = await request(compute.url).get('/healthz');
            return res.status === 503 && res.body.error?.broker?.status === 'down';
        }, { timeoutMs: 20000, intervalMs: 200 });
        const during = await client.transport.client('compute').call('ping', { nonce: 'during' }, { timeoutMs: 500 }).catch((e) => e);
        expect(during).toMatchObject({ code: 'unavailable' });
        await broker.startApp();
        await waitUntil('/healthz to report the broker up again', async () => (await request(compute.url).get('/healthz')).status === 200, { timeoutMs: 30000, intervalMs: 200 });
        const after = await waitUntil('a relayed ping to succeed after the restart', () => client.transport.client('compute').call('ping', { nonce: 'after', relayTo: 'identity' }, { timeoutMs: 2000 }), { timeoutMs: 30000, intervalMs: 250 });
        expect(after).toMatchObject({ service: 'compute', nonce: 'after', relayed: { service: 'identity' } });
        const health = await request(compute.url).get('/healthz');
        expect(health.body.info.broker.reconnects).toBeGreaterThanOrEqual(1);
    }, 120000);
});
//# sourceMappingURL=reconnect.serial.spec.js.map