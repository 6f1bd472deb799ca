import { RpcError } from '@kumo/contracts';
import { createTestDatabase, createTestVhost, startTestService } from '../src/testing/index.js';
import { fixtureVolume, plainService } from './fixtures/definitions.js';
import { testClient } from './helpers.js';
describe('AMQP RPC between services (real RabbitMQ + PostgreSQL)', () => {
    let db;
    let vhost;
    let compute;
    let identity;
    let volume;
    let client;
    beforeAll(async () => {
        [db, vhost] = await Promise.all([createTestDatabase(), createTestVhost()]);
        const opts = { databaseUrl: db.url, amqpUrl: vhost.url };
        [compute, identity, volume] = await Promise.all([
            startTestService(plainService('compute', 'nova'), opts),
            startTestService(plainService('identity', 'keystone'), opts),
            startTestService(fixtureVolume, opts),
        ]);
        client = testClient(vhost.url);
    }, 60000);
    afterAll(async () => {
        await client?.close();
        await Promise.all([compute?.close(), identity?.close(), volume?.close()]);
        await Promise.all([db?.drop(), vhost?.delete()]);
    }, 60000);
    it('pings a service, which relays the ping to another service', async () => {
        const reply = await client.transport.client('compute').call('ping', { nonce: 'n-1', relayTo: 'identity' });
        expect(reply).toMatchObject({ service: 'compute', nonce: 'n-1', pid: process.pid });
        expect(reply.relayed).toMatchObject({ service: 'identity', nonce: 'n-1' });
    });
    it('answers many concurrent calls, each with its own reply', async () => {
        const nonces = Array.from({ length: 50 }, (_, i) => `c-${i}`);
        const replies = await Promise.all(nonces.map((nonce) => client.transport.client('identity').call('ping', { nonce })));
        expect(replies.map((r) => r.nonce)).toEqual(nonces);
    });
    it("turns the receiver's error into a typed RpcError", async () => {
        const err = await client.transport.request('kumo.volume', 'volume.fail', { code: 'not_found' }, {}).catch((e) => e);
        expect(err).toBeInstanceOf(RpcError);
        expect(err).toMatchObject({ code: 'not_found', message: 'Volume v-1 could not be found.', service: 'volume' });
        const internal = await client.transport.request('kumo.volume', 'volume.fail', { code: 'boom' }, {}).catch((e) => e);
        expect(internal).toMatchObject({ code: 'internal', message: 'volume failed: database exploded' });
    });
    it('refuses an unknown method and a bad ping', async () => {
        await expect(client.transport.request('kumo.volume', 'volume.nope', {}, {})).rejects.toMatchObject({ code: 'unknown_method' });
        await expect(client.transport.request('kumo.identity', 'identity.ping', { nonce: 7 }, {})).rejects.toMatchObject({ code: 'bad_request' });
    });
    it('times out with a typed error when the reply does not come in time', async () => {
        const started = Date.now();
        const err = await client.transport.request('kumo.volume', 'volume.slow', { ms: 1500 }, { timeoutMs: 300 }).catch((e) => e);
        expect(err).toMatchObject({ code: 'timeout', message: 'no reply to volume.slow within 300 ms' });
        expect(Date.now() - started).toBeLessThan(1400);
    });
    it('times out when no service consumes the target queue', async () => {
        const err = await client.transport.request('kumo.network', 'network.ping', { nonce: 'x' }, { timeoutMs: 300 }).catch((e) => e);
        expect(err).toMatchObject({ code: 'timeout' });
    });
});
//# sourceMappingURL=rpc.int.spec.js.map