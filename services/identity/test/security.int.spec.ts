import { Controller, Get, Module } from '@nestjs/common';
import { Auth, type AuthContext, RevocationService, type ServiceDefinition } from '@kumo/service-kit';
import { startTestService, TestIdentity, type TestService, waitUntil } from '@kumo/service-kit/testing';
import amqp from 'amqplib';
import pg from 'pg';
import request from 'supertest';
import { rotateKeysCommand } from '../src/keys/rotate.command.js';
import { ADMIN_PASSWORD, claimsOf, type IdentityHarness, login, passwordAuth, startIdentity, tenant } from './helpers.js';

@Controller()
class ProbeController {
  @Get('probe')
  probe(@Auth() auth: AuthContext) {
    return { userId: auth.userId, projectId: auth.projectId };
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

/** Another Kumo service (any will do): verifies tokens locally with identity's JWKS and the revocation broadcast. */
const probeService: ServiceDefinition = {
  name: 'volume',
  family: 'cinder',
  version: '0.0.0-test',
  port: { variable: 'KUMO_VOLUME_PORT', default: 1 },
  database: { schema: 'volume', entities: [], migrations: [] },
  modules: () => [ProbeModule],
};

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('identity security: bad input, isolation, lockout, revocation, key rotation', () => {
  let h: IdentityHarness;
  let other: TestService;
  let admin: string;
  let audit: { events: Array<Record<string, unknown>>; close: () => Promise<void> };
  const api = () => request(h.url);

  beforeAll(async () => {
    h = await startIdentity();
    admin = await h.admin();
    other = await startTestService(probeService, { databaseUrl: h.db.url, amqpUrl: h.vhost.url, env: { KUMO_IDENTITY_URL: h.url } });
    const conn = await amqp.connect(h.vhost.url);
    const ch = await conn.createChannel();
    await ch.assertExchange('kumo.events', 'topic', { durable: true });
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'kumo.events', 'identity.audit');
    const events: Array<Record<string, unknown>> = [];
    await ch.consume(queue, (m) => m && events.push(JSON.parse(m.content.toString()).data), { noAck: true });
    audit = { events, close: () => conn.close() };
  }, 120000);

  afterAll(async () => {
    await audit?.close();
    await other?.close();
    await h?.close();
  }, 60000);

  /** Everything a client can change, as one fingerprint per table. */
  async function fingerprint(): Promise<Record<string, string>> {
    const c = new pg.Client({ connectionString: h.db.url });
    await c.connect();
    try {
      const out: Record<string, string> = {};
      for (const t of ['domain', 'project', 'groups', 'group_member', 'role', 'implied_role', 'assignment', 'region', 'service', 'endpoint', 'app_credential', 'document', 'signing_key']) {
        out[t] = (await c.query(`SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS h FROM identity.${t} x`)).rows[0].h;
      }
      out.users = (await c.query(`SELECT md5(coalesce(string_agg(id || name || enabled || coalesce(password_hash, '') || extra::text, ',' ORDER BY id), '')) AS h FROM identity.users`)).rows[0].h;
      return out;
    } finally {
      await c.end();
    }
  }

  it('answers bad input with the right Keystone error and changes nothing', async () => {
    const before = await fingerprint();
    const a = (r: request.Test) => r.set('X-Auth-Token', admin);
    const longName = 'x'.repeat(10000);
    const cases: Array<[string, () => request.Test, number]> = [
      ['malformed JSON', () => a(api().post('/v3/projects')).set('Content-Type', 'application/json').send('{"project": {"name": '), 400],
      ['missing wrapper', () => a(api().post('/v3/projects')).send({ name: 'x' }), 400],
      ['missing name', () => a(api().post('/v3/projects')).send({ project: { description: 'no name' } }), 400],
      ['wrong type', () => a(api().post('/v3/projects')).send({ project: { name: 5 } }), 400],
      ['wrong boolean', () => a(api().post('/v3/users')).send({ user: { name: 'u', enabled: 'yes' } }), 400],
      ['10 000-character name', () => a(api().post('/v3/users')).send({ user: { name: longName } }), 400],
      ['project name over 64', () => a(api().post('/v3/projects')).send({ project: { name: 'p'.repeat(65) } }), 400],
      ['NUL in a name', () => a(api().post('/v3/groups')).send({ group: { name: 'ops\u0000x' } }), 400],
      ['NUL in a description', () => a(api().post('/v3/domains')).send({ domain: { name: 'ok', description: 'a\u0000b' } }), 400],
      ['blank name', () => a(api().post('/v3/roles')).send({ role: { name: '   ' } }), 400],
      ['body over the limit', () => a(api().post('/v3/projects')).send({ project: { name: 'big', description: 'd'.repeat(200_000) } }), 413],
      ['duplicate', () => a(api().post('/v3/projects')).send({ project: { name: 'admin', domain_id: 'default' } }), 409],
      ['unknown domain', () => a(api().post('/v3/users')).send({ user: { name: 'nowhere', domain_id: 'nope' } }), 404],
      ['SQL in an id', () => a(api().get(`/v3/projects/${encodeURIComponent("x' OR '1'='1")}`)), 404],
      ['SQL in a long id', () => a(api().delete(`/v3/users/${encodeURIComponent("'; DROP TABLE identity.users; --".repeat(20))}`)), 404],
      ['unknown auth method', () => api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['kerberos'], kerberos: {} } } }), 401],
      ['auth without methods', () => api().post('/v3/auth/tokens').send({ auth: { identity: {} } }), 400],
      ['auth not an object', () => api().post('/v3/auth/tokens').send({ auth: 'admin' }), 400],
      ['auth password not a string', () => api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: 42 } } } } }), 400],
      ['SQL in a user name at login', () => api().post('/v3/auth/tokens').send(passwordAuth("admin' --", 'x')), 401],
      ['two scopes', () => api().post('/v3/auth/tokens').send({ ...passwordAuth('admin', ADMIN_PASSWORD), auth: { ...passwordAuth('admin', ADMIN_PASSWORD).auth, scope: { project: { id: 'x' }, domain: { id: 'default' } } } }), 400],
      ['bad endpoint interface', () => a(api().post('/v3/endpoints')).send({ endpoint: { service_id: 'x', interface: 'private', url: 'http://x' } }), 400],
      ['bad mapping rules', () => a(api().put('/v3/OS-FEDERATION/mappings/m1')).send({ mapping: { rules: [{ local: [] }] } }), 400],
    ];
    for (const [what, send, status] of cases) {
      const res = await send();
      expect({ what, status: res.status }).toEqual({ what, status });
      expect(res.body.error).toMatchObject({ code: status, message: expect.any(String), title: expect.any(String) });
    }
    expect(await fingerprint()).toEqual(before);
  });

  it('refuses expired, forged, tampered and alg=none tokens', async () => {
    const good = await h.admin();
    const [hd, payload, sig] = good.split('.');
    const claims = claimsOf(good);
    const impostor = await TestIdentity.start();
    try {
      const forged = await impostor.token({ userId: claims.sub as string, roles: ['admin'], projectId: claims.p as string });
      const attempts = {
        tampered: `${hd}.${b64({ ...claims, r: ['admin', 'member', 'reader', 'service'] })}.${sig}`,
        algNone: `${b64({ alg: 'none', kid: JSON.parse(Buffer.from(hd!, 'base64url').toString()).kid })}.${payload}.`,
        expired: `${hd}.${b64({ ...claims, exp: 1 })}.${sig}`,
        forged,
        garbage: 'not-a-token',
      };
      for (const [what, token] of Object.entries(attempts)) {
        for (const url of [h.url, other.url]) {
          const res = await request(url).get(url === h.url ? '/v3/auth/projects' : '/probe').set('X-Auth-Token', token);
          expect({ what, url, status: res.status }).toEqual({ what, url, status: 401 });
        }
      }
      const viaMethodToken = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['token'], token: { id: attempts.tampered } } } });
      expect(viaMethodToken.status).toBe(401);
    } finally {
      await impostor.close();
    }
  });

  it('refuses a user of another project on every API (and lets them see their own)', async () => {
    const a = await tenant(h, 'tenant-a');
    const b = await tenant(h, 'tenant-b');
    const tok = b.token;
    const memberRole = (await api().get('/v3/roles?name=member').set('X-Auth-Token', admin)).body.roles[0].id;
    const adminTokenOfA = await login(h.url, 'tenant-a-user', a.password, { project: 'tenant-a' });
    const readerRole = (await api().get('/v3/roles?name=reader').set('X-Auth-Token', admin)).body.roles[0].id;
    const credOfA = (await api().post('/v3/credentials').set('X-Auth-Token', a.token).send({ credential: { user_id: a.user.id, type: 'totp', blob: 'seed' } })).body.credential.id;
    const refused: Array<[string, string, object?]> = [
      ['get', `/v3/projects/${a.project.id}`],
      ['patch', `/v3/projects/${a.project.id}`, { project: { description: 'mine' } }],
      ['delete', `/v3/projects/${a.project.id}`],
      ['get', `/v3/projects/${a.project.id}/tags`],
      ['get', '/v3/projects'],
      ['post', '/v3/projects', { project: { name: 'sneaky' } }],
      ['get', '/v3/users'],
      ['get', `/v3/users/${a.user.id}`],
      ['patch', `/v3/users/${a.user.id}`, { user: { enabled: false } }],
      ['delete', `/v3/users/${a.user.id}`],
      ['get', `/v3/users/${a.user.id}/projects`],
      ['get', `/v3/users/${a.user.id}/groups`],
      ['post', '/v3/users', { user: { name: 'sneaky' } }],
      ['get', '/v3/groups'],
      ['post', '/v3/groups', { group: { name: 'sneaky' } }],
      ['get', '/v3/domains'],
      ['post', '/v3/domains', { domain: { name: 'sneaky' } }],
      ['post', '/v3/roles', { role: { name: 'sneaky' } }],
      ['get', '/v3/roles'],
      ['put', `/v3/projects/${a.project.id}/users/${b.user.id}/roles/${memberRole}`],
      ['put', `/v3/projects/${b.project.id}/users/${b.user.id}/roles/${memberRole}`],
      ['get', `/v3/role_assignments?scope.project.id=${a.project.id}`],
      ['get', `/v3/role_assignments?user.id=${a.user.id}`],
      ['post', `/v3/users/${a.user.id}/application_credentials`, { application_credential: { name: 'sneaky' } }],
      ['get', `/v3/users/${a.user.id}/application_credentials`],
      ['get', `/v3/users/${a.user.id}/credentials/OS-EC2`],
      ['post', '/v3/credentials', { credential: { user_id: a.user.id, type: 'totp', blob: 'x' } }],
      ['post', '/v3/services', { service: { type: 'evil' } }],
      ['post', '/v3/endpoints', { endpoint: { service_id: 'x', interface: 'public', url: 'http://evil' } }],
      ['post', '/v3/regions', { region: { id: 'evil' } }],
      ['get', '/v3/policies'],
      ['get', '/v3/OS-FEDERATION/identity_providers'],
      ['put', '/v3/OS-FEDERATION/identity_providers/evil', { identity_provider: { remote_ids: ['http://evil/realms/x'] } }],
      ['get', '/v3/OS-FEDERATION/mappings'],
      ['get', '/v3/OS-EP-FILTER/endpoint_groups'],
      ['get', '/v3/OS-OAUTH1/consumers'],
      ['get', '/v3/domains/default/config'],
      ['get', '/v3/domains/config/default'],
      ['patch', '/v3/domains/default', { domain: { description: 'mine' } }],
      ['get', '/v3/services'],
      ['get', '/v3/endpoints'],
      ['get', '/v3/role_inferences'],
      ['put', `/v3/roles/${memberRole}/implies/${readerRole}`],
      ['get', `/v3/system/users/${b.user.id}/roles`],
      ['put', `/v3/system/users/${b.user.id}/roles/${memberRole}`],
      ['put', `/v3/OS-INHERIT/domains/default/users/${b.user.id}/roles/${memberRole}/inherited_to_projects`],
      ['post', '/v3/policies', { policy: { type: 'application/json', blob: '{}' } }],
      ['post', '/v3/OS-OAUTH1/consumers', { consumer: { description: 'x' } }],
      ['post', '/v3/OS-EP-FILTER/endpoint_groups', { endpoint_group: { name: 'x', filters: {} } }],
      ['put', '/v3/OS-FEDERATION/mappings/evil', { mapping: { rules: [{ remote: [{ type: 'sub' }], local: [{ user: { name: '{0}' } }] }] } }],
      ['get', `/v3/credentials/${credOfA}`],
    ];
    for (const [method, path, body] of refused) {
      const r = (api() as unknown as Record<string, (p: string) => request.Test>)[method]!(path).set('X-Auth-Token', tok);
      const res = body ? await r.send(body) : await r;
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
    }
    // someone else's token: neither validate nor revoke
    expect((await api().get('/v3/auth/tokens').set('X-Auth-Token', tok).set('X-Subject-Token', adminTokenOfA)).status).toBe(403);
    expect((await api().delete('/v3/auth/tokens').set('X-Auth-Token', tok).set('X-Subject-Token', adminTokenOfA)).status).toBe(403);
    expect((await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['token'], token: { id: tok } }, scope: { project: { id: a.project.id } } } })).status).toBe(401);
    // ... while their own things are fine
    expect((await api().get(`/v3/projects/${b.project.id}`).set('X-Auth-Token', tok)).status).toBe(200);
    expect((await api().get(`/v3/users/${b.user.id}`).set('X-Auth-Token', tok)).status).toBe(200);
    expect((await api().get(`/v3/role_assignments?user.id=${b.user.id}`).set('X-Auth-Token', tok)).status).toBe(200);
    expect((await api().get('/v3/domains/default').set('X-Auth-Token', tok)).status).toBe(200);
    expect((await api().get('/v3/auth/tokens').set('X-Auth-Token', tok).set('X-Subject-Token', tok)).status).toBe(200);
  });

  it('locks a user out after N failures, without telling who exists, and audits it', async () => {
    const t = await tenant(h, 'lockme');
    const wrong = () => api().post('/v3/auth/tokens').send(passwordAuth('lockme-user', 'wrong'));
    const ghost = await api().post('/v3/auth/tokens').send(passwordAuth('no-such-user', 'wrong'));
    const first = await wrong();
    expect(ghost.status).toBe(401);
    expect(first.status).toBe(401);
    expect(ghost.body).toEqual(first.body);
    await wrong();
    await wrong();
    const locked = await api().post('/v3/auth/tokens').send(passwordAuth('lockme-user', t.password));
    expect(locked.status).toBe(401);
    expect(locked.body).toEqual(first.body);
    // KUMO_IDENTITY_LOCKOUT_DURATION_S=2 in the harness
    await waitUntil('the lockout to expire', async () => (await api().post('/v3/auth/tokens').send(passwordAuth('lockme-user', t.password))).status === 201, { timeoutMs: 5000, intervalMs: 500 });
    await waitUntil('audit events', () => audit.events.some((e) => e.action === 'user.locked') && audit.events.some((e) => e.action === 'authenticate' && e.outcome === 'failure'), { timeoutMs: 3000 });
    const failure = audit.events.find((e) => e.action === 'authenticate' && e.outcome === 'failure')!;
    expect(JSON.stringify(failure)).not.toContain('wrong');
    expect(audit.events.some((e) => e.action === 'role_assignment.created')).toBe(true);
  });

  it('makes another service refuse revoked tokens within a second (token, user disabled, project deleted, app credential)', async () => {
    const probe = (token: string) => request(other.url).get('/probe').set('X-Auth-Token', token);
    const within = async (what: string, token: string, act: () => Promise<unknown>) => {
      expect((await probe(token)).status).toBe(200);
      const t0 = Date.now();
      await act();
      await waitUntil(what, async () => (await probe(token)).status === 401, { timeoutMs: 1000, intervalMs: 20 });
      expect(Date.now() - t0).toBeLessThan(1000);
    };
    const t = await tenant(h, 'revoke');
    await within('a revoked token to be refused', t.token, () => api().delete('/v3/auth/tokens').set('X-Auth-Token', admin).set('X-Subject-Token', t.token).expect(204));
    const t2 = await login(h.url, 'revoke-user', t.password, { project: 'revoke' });
    await within("a disabled user's token to be refused", t2, () => api().patch(`/v3/users/${t.user.id}`).set('X-Auth-Token', admin).send({ user: { enabled: false } }).expect(200));
    await api().patch(`/v3/users/${t.user.id}`).set('X-Auth-Token', admin).send({ user: { enabled: true } }).expect(200);
    const t3 = await login(h.url, 'revoke-user', t.password, { project: 'revoke' });
    expect((await probe(t3)).status).toBe(200);
    const ac = (await api().post(`/v3/users/${t.user.id}/application_credentials`).set('X-Auth-Token', t3).send({ application_credential: { name: 'x' } })).body.application_credential;
    const acTok = (await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.id, secret: ac.secret } } } })).headers['x-subject-token'];
    await within("a deleted application credential's token to be refused", acTok, () => api().delete(`/v3/users/${t.user.id}/application_credentials/${ac.id}`).set('X-Auth-Token', t3).expect(204));
    await within("a deleted project's token to be refused", t3, () => api().delete(`/v3/projects/${t.project.id}`).set('X-Auth-Token', admin).expect(204));
    // a service that starts later learns the revocations from the identity.revocations RPC
    const late = await startTestService(probeService, { databaseUrl: h.db.url, amqpUrl: h.vhost.url, env: { KUMO_IDENTITY_URL: h.url } });
    try {
      await waitUntil('the late service to sync revocations', async () => late.app.get(RevocationService).synced && (await request(late.url).get('/probe').set('X-Auth-Token', t.token)).status === 401, { timeoutMs: 5000 });
    } finally {
      await late.close();
    }
  });

  it('rotates signing keys: old-key tokens keep working for one rotation, then are refused everywhere', async () => {
    const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid as string;
    const quiet = async (fn: () => Promise<unknown>) => {
      const out = process.stdout.write;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      try {
        await fn();
      } finally {
        process.stdout.write = out;
      }
    };
    const t1 = await h.admin();
    const k1 = kidOf(t1);
    await quiet(() => rotateKeysCommand(h.config, []));
    const t2 = await waitUntil('identity to sign with the new key', async () => {
      const t = await h.admin();
      return kidOf(t) !== k1 ? t : undefined;
    }, { timeoutMs: 8000, intervalMs: 250 });
    expect((await request(other.url).get('/probe').set('X-Auth-Token', t1)).status).toBe(200);
    expect((await request(other.url).get('/probe').set('X-Auth-Token', t2)).status).toBe(200);
    const jwks = (await api().get('/.well-known/jwks.json')).body.keys.map((k: { kid: string }) => k.kid);
    expect(jwks).toEqual(expect.arrayContaining([k1, kidOf(t2)]));
    const t0 = Date.now();
    await quiet(() => rotateKeysCommand(h.config, []));
    await waitUntil('tokens of the retired key to be refused by another service', async () => (await request(other.url).get('/probe').set('X-Auth-Token', t1)).status === 401, { timeoutMs: 1000, intervalMs: 20 });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect((await request(other.url).get('/probe').set('X-Auth-Token', t1)).body.error.message).toMatch(/rotated out|unknown or retired key/);
    expect((await api().get('/v3/auth/projects').set('X-Auth-Token', t1)).status).toBe(401);
    expect((await request(other.url).get('/probe').set('X-Auth-Token', t2)).status).toBe(200);
    // The JWKS follows within one key refresh (5 s); the revocation already made the key useless.
    await waitUntil('the retired key to leave the JWKS', async () => !(await api().get('/.well-known/jwks.json')).body.keys.some((k: { kid: string }) => k.kid === k1), { timeoutMs: 8000, intervalMs: 250 });
  });
});
