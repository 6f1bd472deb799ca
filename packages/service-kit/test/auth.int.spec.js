import request from 'supertest';
import { createTestDatabase, createTestVhost, startTestService, TestIdentity, waitUntil } from '../src/testing/index.js';
import { fixtureVolume } from './fixtures/definitions.js';
import { testClient } from './helpers.js';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
describe('token verification and policy in every service (service-kit guard)', () => {
    let db;
    let vhost;
    let identity;
    let impostor;
    let volume;
    let client;
    beforeAll(async () => {
        [db, vhost, identity, impostor] = await Promise.all([createTestDatabase(), createTestVhost(), TestIdentity.start(), TestIdentity.start()]);
        volume = await startTestService(fixtureVolume, { databaseUrl: db.url, amqpUrl: vhost.url, env: { KUMO_IDENTITY_URL: identity.url } });
        client = testClient(vhost.url);
    }, 60000);
    afterAll(async () => {
        await client?.close();
        await volume?.close();
        await Promise.all([db?.drop(), vhost?.delete(), identity?.close(), impostor?.close()]);
    }, 60000);
    const whoami = (token) => {
        const r = request(volume.url).get('/fixture/whoami');
        return token ? r.set('X-Auth-Token', token) : r;
    };
    it('refuses a request without a token with 401 in Keystone shape and a WWW-Authenticate challenge', async () => {
        const res = await whoami();
        expect(res.status).toBe(401);
        expect(res.body).toEqual({ error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
        expect(res.headers['www-authenticate']).toBe(`Keystone uri="${identity.url}/v3"`);
    });
    it('accepts a valid token and exposes the caller', async () => {
        const res = await whoami(await identity.token({ userId: 'u-1', projectId: 'p-1', roles: ['member', 'reader'] }));
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ userId: 'u-1', projectId: 'p-1', roles: ['member', 'reader'] });
    });
    it('refuses expired, forged, tampered and alg=none tokens', async () => {
        const expired = await whoami(await identity.token({ issuedAt: Math.floor(Date.now() / 1000) - 7200, expiresIn: 3600 }));
        expect(expired.status).toBe(401);
        expect(expired.body.error.message).toMatch(/expired/);
        const forged = await whoami(await impostor.token({ roles: ['admin'] }));
        expect(forged.status).toBe(401);
        expect(forged.body.error.message).toMatch(/unknown or retired key/);
        const genuine = await identity.token({ projectId: 'p-1', roles: ['reader'] });
        const [h, p, sig] = genuine.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        const tampered = await whoami(`${h}.${b64({ ...claims, r: ['admin'] })}.${sig}`);
        expect(tampered.status).toBe(401);
        expect(tampered.body.error.message).toMatch(/signature is invalid/);
        const none = await whoami(`${b64({ alg: 'none', kid: identity.keyId })}.${b64({ ...claims, r: ['admin'] })}.`);
        expect(none.status).toBe(401);
        const wrongIssuer = await whoami(await identity.token({ issuer: 'someone-else' }));
        expect(wrongIssuer.status).toBe(401);
        expect((await whoami('not-a-token')).status).toBe(401);
    });
    it("refuses another project's member by policy (403) and lets an admin through", async () => {
        const member = await identity.token({ projectId: 'p-1', roles: ['member', 'reader'] });
        expect((await request(volume.url).get('/fixture/projects/p-1').set('X-Auth-Token', member)).status).toBe(200);
        const other = await request(volume.url).get('/fixture/projects/p-2').set('X-Auth-Token', member);
        expect(other.status).toBe(403);
        expect(other.body).toEqual({ forbidden: { code: 403, message: "Policy doesn't allow fixture:read to be performed." } });
        const admin = await identity.token({ projectId: 'p-admin', roles: ['admin', 'member', 'reader'] });
        expect((await request(volume.url).get('/fixture/projects/p-2').set('X-Auth-Token', admin)).status).toBe(200);
    });
    it('honours a revocation broadcast within a second', async () => {
        const token = await identity.token({ userId: 'u-rev' });
        const other = await identity.token({ userId: 'u-keep' });
        expect((await whoami(token)).status).toBe(200);
        const auditId = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;
        const sent = Date.now();
        await client.transport.publish('identity.revoked', { revocations: [{ auditId, expiresAt: Math.floor(Date.now() / 1000) + 3600 }] });
        await waitUntil('the revoked token to be refused', async () => (await whoami(token)).status === 401, { timeoutMs: 1000, intervalMs: 20 });
        expect(Date.now() - sent).toBeLessThan(1000);
        expect((await whoami(token)).body.error.message).toMatch(/no longer valid: the token was revoked/);
        expect((await whoami(other)).status).toBe(200);
        const userToken = await identity.token({ userId: 'u-disabled', issuedAt: Math.floor(Date.now() / 1000) - 10 });
        await client.transport.publish('identity.revoked', { revocations: [{ userId: 'u-disabled', issuedBefore: Math.floor(Date.now() / 1000), expiresAt: Math.floor(Date.now() / 1000) + 3600 }] });
        await waitUntil("the disabled user's token to be refused", async () => (await whoami(userToken)).status === 401, { timeoutMs: 1000, intervalMs: 20 });
    });
});
//# sourceMappingURL=auth.int.spec.js.map