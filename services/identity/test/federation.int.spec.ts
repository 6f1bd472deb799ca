import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitUntil } from '@kumo/service-kit/testing';
import request from 'supertest';
import { claimsOf, type IdentityHarness, startIdentity } from './helpers.js';

/** Starts the oidc-provider fixture (a Keycloak stand-in) and returns its realm issuer URL. */
async function startOidc(): Promise<{ issuer: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(__dirname, 'fixtures/oidc-server.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const line = await waitUntil('the OIDC provider to listen', () => out.split('\n').find((l) => l.startsWith('{"issuer"')), { timeoutMs: 15000 });
  return { issuer: (JSON.parse(line) as { issuer: string }).issuer, child };
}

async function accessToken(issuer: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${issuer}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from('kumo-cli:kumo-cli-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'password', username, password, scope: 'openid' }),
  });
  if (!res.ok) throw new Error(`token endpoint said ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('federation with an OIDC provider (oidc-provider standing in for Keycloak)', () => {
  let h: IdentityHarness;
  let oidc: { issuer: string; child: ChildProcess };
  let admin: string;
  const api = () => request(h.url);

  beforeAll(async () => {
    [h, oidc] = await Promise.all([startIdentity(), startOidc()]);
    admin = await h.admin();
    const a = (r: request.Test) => r.set('X-Auth-Token', admin);
    const group = (await a(api().post('/v3/groups')).send({ group: { name: 'cloud-admins', domain_id: 'default' } })).body.group;
    const adminRole = (await a(api().get('/v3/roles?name=admin'))).body.roles[0];
    const adminProject = (await a(api().get('/v3/projects?name=admin'))).body.projects[0];
    await a(api().put(`/v3/projects/${adminProject.id}/groups/${group.id}/roles/${adminRole.id}`)).expect(204);
    await a(api().put('/v3/OS-FEDERATION/identity_providers/keycloak')).send({ identity_provider: { remote_ids: [oidc.issuer], enabled: true, description: 'Keycloak realm kumo' } }).expect(201);
    await a(api().put('/v3/OS-FEDERATION/mappings/keycloak-kumo'))
      .send({
        mapping: {
          rules: [
            {
              remote: [{ type: 'OIDC-preferred_username' }, { type: 'OIDC-email' }, { type: 'OIDC-groups', any_one_of: ['staff'] }],
              local: [{ user: { name: '{0}', email: '{1}' } }, { projects: [{ name: 'federated', roles: [{ name: 'member' }] }] }],
            },
            { remote: [{ type: 'groups', any_one_of: ['kumo-admins'] }], local: [{ group: { name: 'cloud-admins', domain: { id: 'default' } } }] },
          ],
        },
      })
      .expect(201);
    await a(api().put('/v3/OS-FEDERATION/identity_providers/keycloak/protocols/openid')).send({ protocol: { mapping_id: 'keycloak-kumo' } }).expect(201);
  }, 120000);

  afterAll(async () => {
    oidc?.child.kill();
    await h?.close();
  }, 60000);

  const fedLogin = (token: string) => api().post('/v3/OS-FEDERATION/identity_providers/keycloak/protocols/openid/auth').set('Authorization', `Bearer ${token}`);
  const rescope = (token: string, project: string) => api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['token'], token: { id: token } }, scope: { project: { name: project, domain: { id: 'default' } } } } });

  it('logs in through the OIDC provider and gets a Kumo token with mapped roles (shadow user, groups, projects)', async () => {
    const at = await accessToken(oidc.issuer, 'alice', 'alice-pw');
    const res = await fedLogin(at);
    expect(res.status).toBe(201);
    const unscoped = res.headers['x-subject-token'];
    expect(res.body.token.methods).toEqual(['openid']);
    expect(res.body.token.user).toMatchObject({ name: 'alice', domain: { id: 'default' }, 'OS-FEDERATION': { identity_provider: { id: 'keycloak' }, protocol: { id: 'openid' } } });
    expect(claimsOf(unscoped).idp).toBe('keycloak');

    const fed = await rescope(unscoped, 'federated');
    expect(fed.status).toBe(201);
    expect(fed.body.token.roles.map((r: { name: string }) => r.name).sort()).toEqual(['member', 'reader']);
    const adm = await rescope(unscoped, 'admin');
    expect(adm.status).toBe(201);
    expect(adm.body.token.roles.map((r: { name: string }) => r.name).sort()).toEqual(['admin', 'member', 'reader']);

    // the one-step variant: method openid on /v3/auth/tokens
    const direct = await api()
      .post('/v3/auth/tokens')
      .send({ auth: { identity: { methods: ['openid'], openid: { identity_provider: 'keycloak', protocol: 'openid', access_token: at } }, scope: { project: { name: 'federated', domain: { id: 'default' } } } } });
    expect(direct.status).toBe(201);
    expect(direct.body.token.project.name).toBe('federated');

    const shadow = (await api().get('/v3/users?idp_id=keycloak').set('X-Auth-Token', admin)).body.users;
    expect(shadow).toHaveLength(1);
    expect(shadow[0]).toMatchObject({ name: 'alice', email: 'alice@example.org', federated: [{ idp_id: 'keycloak', protocols: [{ protocol_id: 'openid', unique_id: 'alice' }] }] });
  });

  it('gives a user only what the mapping grants them, and follows group changes at every login', async () => {
    const bob = await fedLogin(await accessToken(oidc.issuer, 'bob', 'bob-pw'));
    expect(bob.status).toBe(201);
    const token = bob.headers['x-subject-token'];
    expect((await rescope(token, 'federated')).status).toBe(201);
    expect((await rescope(token, 'admin')).status).toBe(401);
    // mallory is in no group the mapping knows: refused, and no shadow user is made
    expect((await fedLogin(await accessToken(oidc.issuer, 'mallory', 'mallory-pw'))).status).toBe(401);
    expect((await api().get('/v3/users?name=mallory').set('X-Auth-Token', admin)).body.users).toHaveLength(0);
  });

  it('refuses tampered, foreign-issuer and non-bearer tokens', async () => {
    const at = await accessToken(oidc.issuer, 'bob', 'bob-pw');
    const [hd, payload, sig] = at.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    expect((await fedLogin(`${hd}.${b64({ ...claims, groups: ['kumo-admins', 'staff'] })}.${sig}`)).status).toBe(401);
    expect((await fedLogin(`${hd}.${b64({ ...claims, iss: 'http://127.0.0.1:1/realms/evil' })}.${sig}`)).status).toBe(401);
    expect((await fedLogin(`${b64({ alg: 'none' })}.${payload}.`)).status).toBe(401);
    expect((await fedLogin(`${hd}.${b64({ ...claims, typ: 'ID' })}.${sig}`)).status).toBe(401);
    expect((await api().post('/v3/OS-FEDERATION/identity_providers/keycloak/protocols/openid/auth')).status).toBe(401);
    expect((await api().post('/v3/OS-FEDERATION/identity_providers/nope/protocols/openid/auth').set('Authorization', `Bearer ${at}`)).status).toBe(401);
  });

  it('manages identity providers, protocols and mappings (admin only)', async () => {
    const a = (r: request.Test) => r.set('X-Auth-Token', admin);
    expect((await a(api().get('/v3/OS-FEDERATION/identity_providers'))).body.identity_providers.map((i: { id: string }) => i.id)).toEqual(['keycloak']);
    expect((await a(api().get('/v3/OS-FEDERATION/identity_providers/keycloak/protocols'))).body.protocols[0]).toMatchObject({ id: 'openid', mapping_id: 'keycloak-kumo' });
    expect((await a(api().delete('/v3/OS-FEDERATION/mappings/keycloak-kumo'))).status).toBe(409);
    expect((await a(api().patch('/v3/OS-FEDERATION/identity_providers/keycloak')).send({ identity_provider: { enabled: false } })).body.identity_provider.enabled).toBe(false);
    expect((await fedLogin(await accessToken(oidc.issuer, 'alice', 'alice-pw'))).status).toBe(401);
    await a(api().patch('/v3/OS-FEDERATION/identity_providers/keycloak')).send({ identity_provider: { enabled: true } }).expect(200);
  });
});
