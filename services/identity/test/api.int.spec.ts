import request from 'supertest';
import { bootstrapCommand } from '../src/bootstrap/bootstrap.command.js';
import { ADMIN_PASSWORD, claimsOf, type IdentityHarness, login, passwordAuth, startIdentity, tenant } from './helpers.js';

describe('identity API (Keystone v3) against PostgreSQL and RabbitMQ', () => {
  let h: IdentityHarness;
  let admin: string;
  const api = () => request(h.url);

  beforeAll(async () => {
    h = await startIdentity();
    admin = await h.admin();
  }, 120000);
  afterAll(() => h?.close(), 60000);

  it('answers version discovery without a token', async () => {
    const root = await api().get('/');
    expect(root.status).toBe(300);
    expect(root.body.versions.values[0]).toMatchObject({ id: 'v3.14', status: 'stable', 'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }] });
    const v3 = await api().get('/v3');
    expect(v3.body.version.links[0].href).toBe(`${h.url}/v3/`);
    const jwks = await api().get('/.well-known/jwks.json');
    expect(jwks.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String) });
    expect(jwks.body.keys[0].d).toBeUndefined();
  });

  it('issues a project token with the full Keystone body and a short JWT', async () => {
    const res = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { project: 'admin' }));
    expect(res.status).toBe(201);
    const token = res.headers['x-subject-token'];
    expect(token.length).toBeLessThan(1024);
    const t = res.body.token;
    expect(t.methods).toEqual(['password']);
    expect(t.user).toMatchObject({ name: 'admin', domain: { id: 'default', name: 'Default' }, password_expires_at: null });
    expect(t.project).toMatchObject({ name: 'admin', domain: { id: 'default', name: 'Default' } });
    expect(t.roles.map((r: { name: string }) => r.name).sort()).toEqual(['admin', 'member', 'reader']);
    expect(t.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(t.audit_ids).toHaveLength(1);
    const types = t.catalog.map((s: { type: string }) => s.type).sort();
    expect(types).toEqual(['compute', 'identity', 'image', 'network', 'volumev3']);
    const volume = t.catalog.find((s: { type: string }) => s.type === 'volumev3');
    expect(volume.endpoints.find((e: { interface: string }) => e.interface === 'public').url).toBe(`http://127.0.0.1:8776/v3/${t.project.id}`);
    const claims = claimsOf(token);
    expect(claims).toMatchObject({ sub: t.user.id, p: t.project.id, pd: 'default', m: ['password'], iss: 'kumo' });
    expect(claims).not.toHaveProperty('catalog');
  });

  it('scopes to a domain, to the system, or not at all, and rescopes with method token', async () => {
    const dom = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { domain: 'default' }));
    expect(dom.status).toBe(201);
    expect(dom.body.token.domain).toEqual({ id: 'default', name: 'Default' });
    const sys = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { system: true }));
    expect(sys.body.token.system).toEqual({ all: true });
    const user = (await api().post('/v3/users').set('X-Auth-Token', admin).send({ user: { name: 'loner', password: 'pw' } })).body.user;
    const un = await api().post('/v3/auth/tokens').send(passwordAuth('loner', 'pw'));
    expect(un.status).toBe(201);
    expect(un.body.token.catalog).toBeUndefined();
    expect(un.body.token.roles).toBeUndefined();
    expect(un.body.token.user.id).toBe(user.id);
    const unscopedAdmin = await login(h.url, 'admin', ADMIN_PASSWORD);
    const re = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['token'], token: { id: unscopedAdmin } }, scope: { project: { name: 'demo', domain: { id: 'default' } } } } });
    expect(re.status).toBe(401); // admin has no role on demo
    const re2 = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['token'], token: { id: unscopedAdmin } }, scope: { system: { all: true } } } });
    expect(re2.status).toBe(201);
    expect(re2.body.token.methods).toEqual(['token', 'password']);
    expect(re2.body.token.audit_ids).toEqual([claimsOf(re2.headers['x-subject-token']).jti, claimsOf(unscopedAdmin).jti]);
  });

  it('validates, checks and revokes tokens (GET/HEAD/DELETE /v3/auth/tokens)', async () => {
    const subject = await login(h.url, 'admin', ADMIN_PASSWORD, { project: 'admin' });
    const v = await api().get('/v3/auth/tokens').set('X-Auth-Token', admin).set('X-Subject-Token', subject);
    expect(v.status).toBe(200);
    expect(v.headers['x-subject-token']).toBe(subject);
    expect(v.body.token.catalog.length).toBe(5);
    expect((await api().get('/v3/auth/tokens?nocatalog').set('X-Auth-Token', admin).set('X-Subject-Token', subject)).body.token.catalog).toBeUndefined();
    expect((await api().head('/v3/auth/tokens').set('X-Auth-Token', admin).set('X-Subject-Token', subject)).status).toBe(200);
    expect((await api().delete('/v3/auth/tokens').set('X-Auth-Token', admin).set('X-Subject-Token', subject)).status).toBe(204);
    expect((await api().get('/v3/auth/tokens').set('X-Auth-Token', admin).set('X-Subject-Token', subject)).status).toBe(404);
    expect((await api().get('/v3/projects').set('X-Auth-Token', subject)).status).toBe(401);
  });

  it('lists what a token may scope to and its catalog', async () => {
    const projects = await api().get('/v3/auth/projects').set('X-Auth-Token', admin);
    expect(projects.body.projects.map((p: { name: string }) => p.name)).toEqual(['admin']);
    expect((await api().get('/v3/auth/domains').set('X-Auth-Token', admin)).body.domains.map((d: { id: string }) => d.id)).toEqual(['default']);
    expect((await api().get('/v3/auth/catalog').set('X-Auth-Token', admin)).body.catalog).toHaveLength(5);
  });

  it('does CRUD with exact-match filters for domains, projects (hierarchy), users, groups, roles', async () => {
    const a = (r: request.Test) => r.set('X-Auth-Token', admin);
    const dom = (await a(api().post('/v3/domains')).send({ domain: { name: 'acme', description: 'd' } })).body.domain;
    expect(dom).toMatchObject({ name: 'acme', enabled: true });
    expect((await a(api().get('/v3/domains?name=acme'))).body.domains).toHaveLength(1);
    expect((await a(api().get('/v3/domains?name=acm'))).body.domains).toHaveLength(0);
    const parent = (await a(api().post('/v3/projects')).send({ project: { name: 'parent', domain_id: dom.id } })).body.project;
    expect(parent.parent_id).toBe(dom.id);
    const child = (await a(api().post('/v3/projects')).send({ project: { name: 'child', parent_id: parent.id } })).body.project;
    expect(child).toMatchObject({ parent_id: parent.id, domain_id: dom.id });
    expect((await a(api().get(`/v3/projects?parent_id=${parent.id}`))).body.projects.map((p: { id: string }) => p.id)).toEqual([child.id]);
    expect((await a(api().get(`/v3/projects/${child.id}?parents_as_ids`))).body.project.parents).toEqual({ [parent.id]: null });
    expect((await a(api().get(`/v3/projects?domain_id=${dom.id}&enabled=true`))).body.projects).toHaveLength(2);
    expect((await a(api().delete(`/v3/projects/${parent.id}`))).status).toBe(403); // has a child
    expect((await a(api().post('/v3/projects')).send({ project: { name: 'PARENT', domain_id: dom.id } })).status).toBe(409);

    const user = (await a(api().post('/v3/users')).send({ user: { name: 'bob', domain_id: dom.id, password: 'pw', email: 'b@x' } })).body.user;
    expect(user).toMatchObject({ name: 'bob', email: 'b@x', enabled: true });
    expect(user.password).toBeUndefined();
    expect((await a(api().get(`/v3/users?domain_id=${dom.id}&name=bob`))).body.users).toHaveLength(1);
    expect((await a(api().patch(`/v3/users/${user.id}`)).send({ user: { email: 'new@x' } })).body.user.email).toBe('new@x');

    const group = (await a(api().post('/v3/groups')).send({ group: { name: 'ops', domain_id: dom.id } })).body.group;
    expect((await a(api().put(`/v3/groups/${group.id}/users/${user.id}`))).status).toBe(204);
    expect((await a(api().head(`/v3/groups/${group.id}/users/${user.id}`))).status).toBe(204);
    expect((await a(api().get(`/v3/users/${user.id}/groups`))).body.groups.map((g: { id: string }) => g.id)).toEqual([group.id]);

    const roles = (await a(api().get('/v3/roles'))).body.roles.map((r: { name: string }) => r.name);
    expect(roles).toEqual(expect.arrayContaining(['admin', 'member', 'reader', 'service']));
    const member = (await a(api().get('/v3/roles?name=member'))).body.roles[0];
    const reader = (await a(api().get('/v3/roles?name=reader'))).body.roles[0];
    // group grant inherited from the domain to every project: effective assignments per user
    expect((await a(api().put(`/v3/OS-INHERIT/domains/${dom.id}/groups/${group.id}/roles/${member.id}/inherited_to_projects`))).status).toBe(204);
    const eff = (await a(api().get(`/v3/role_assignments?effective&user.id=${user.id}&include_names`))).body.role_assignments;
    const seen = eff.map((e: { role: { name: string }; scope: { project: { name: string } } }) => `${e.scope.project.name}:${e.role.name}`).sort();
    expect(seen).toEqual(['child:member', 'child:reader', 'parent:member', 'parent:reader']);
    expect(eff[0].user).toMatchObject({ name: 'bob', domain: { id: dom.id, name: 'acme' } });
    const bobToken = (await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['password'], password: { user: { id: user.id, password: 'pw' } } }, scope: { project: { id: child.id } } } }));
    expect(bobToken.status).toBe(201);
    expect(bobToken.body.token.roles.map((r: { name: string }) => r.name).sort()).toEqual(['member', 'reader']);
    const direct = (await a(api().get(`/v3/role_assignments?role.id=${reader.id}&scope.project.id=${child.id}`))).body.role_assignments;
    expect(direct).toEqual([]);

    // implied roles
    const custom = (await a(api().post('/v3/roles')).send({ role: { name: 'auditor' } })).body.role;
    expect((await a(api().put(`/v3/roles/${custom.id}/implies/${reader.id}`))).status).toBe(201);
    expect((await a(api().head(`/v3/roles/${custom.id}/implies/${reader.id}`))).status).toBe(204);
    expect((await a(api().put(`/v3/roles/${reader.id}/implies/${custom.id}`))).status).toBe(400); // loop
    expect((await a(api().get('/v3/role_inferences'))).body.role_inferences.length).toBeGreaterThanOrEqual(3);

    // domain delete cascades after disabling
    expect((await a(api().delete(`/v3/domains/${dom.id}`))).status).toBe(403);
    await a(api().patch(`/v3/domains/${dom.id}`)).send({ domain: { enabled: false } });
    expect((await a(api().delete(`/v3/domains/${dom.id}`))).status).toBe(204);
    expect((await a(api().get(`/v3/users/${user.id}`))).status).toBe(404);
    expect((await a(api().get(`/v3/projects/${child.id}`))).status).toBe(404);
  });

  it('changes a password with the old one, and revokes older tokens', async () => {
    const t = await tenant(h, 'pwchange');
    const res = await api().post(`/v3/users/${t.user.id}/password`).send({ user: { original_password: 'wrong', password: 'next-pw' } });
    expect(res.status).toBe(401);
    expect((await api().post(`/v3/users/${t.user.id}/password`).send({ user: { original_password: t.password, password: 'next-pw' } })).status).toBe(204);
    expect((await api().get(`/v3/users/${t.user.id}`).set('X-Auth-Token', t.token)).status).toBe(401);
    const fresh = await login(h.url, 'pwchange-user', 'next-pw', { project: 'pwchange' });
    expect((await api().get(`/v3/users/${t.user.id}`).set('X-Auth-Token', fresh)).status).toBe(200);
  });

  it('manages services, endpoints and regions, and the catalog follows', async () => {
    const a = (r: request.Test) => r.set('X-Auth-Token', admin);
    expect((await a(api().put('/v3/regions/EdgeOne')).send({ region: { description: 'edge' } })).status).toBe(201);
    const svc = (await a(api().post('/v3/services')).send({ service: { type: 'object-store', name: 'swift' } })).body.service;
    const ep = await a(api().post('/v3/endpoints')).send({ endpoint: { service_id: svc.id, interface: 'public', url: 'http://127.0.0.1:8080/v1/AUTH_%(project_id)s', region_id: 'EdgeOne' } });
    expect(ep.status).toBe(201);
    expect((await a(api().get(`/v3/endpoints?service_id=${svc.id}`))).body.endpoints).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 10));
    const tok = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { project: 'admin' }));
    const swift = tok.body.token.catalog.find((s: { type: string }) => s.type === 'object-store');
    expect(swift.endpoints[0]).toMatchObject({ region_id: 'EdgeOne', url: `http://127.0.0.1:8080/v1/AUTH_${tok.body.token.project.id}` });
    expect((await a(api().post('/v3/endpoints')).send({ endpoint: { service_id: svc.id, interface: 'public', url: 'x', enabled: 'True' } })).status).toBe(400);
    expect((await a(api().delete(`/v3/services/${svc.id}`))).status).toBe(204);
    expect((await a(api().get(`/v3/endpoints/${ep.body.endpoint.id}`))).status).toBe(404);
  });

  it('application credentials: secret shown once, role subset, expiry, login, restricted', async () => {
    const t = await tenant(h, 'apps');
    const create = (body: object, token = t.token) => api().post(`/v3/users/${t.user.id}/application_credentials`).set('X-Auth-Token', token).send({ application_credential: body });
    const ac = await create({ name: 'ci', roles: [{ name: 'reader' }] });
    expect(ac.status).toBe(201);
    expect(ac.body.application_credential).toMatchObject({ name: 'ci', project_id: t.project.id, unrestricted: false, roles: [{ name: 'reader' }] });
    const secret = ac.body.application_credential.secret;
    expect(secret.length).toBeGreaterThan(40);
    const shown = await api().get(`/v3/users/${t.user.id}/application_credentials/${ac.body.application_credential.id}`).set('X-Auth-Token', t.token);
    expect(shown.body.application_credential.secret).toBeUndefined();
    expect((await create({ name: 'too-much', roles: [{ name: 'admin' }] })).status).toBe(403);
    expect((await create({ name: 'ci' })).status).toBe(409);
    expect((await create({ name: 'old', expires_at: '2000-01-01T00:00:00' })).status).toBe(400);

    const tok = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.body.application_credential.id, secret } } } });
    expect(tok.status).toBe(201);
    expect(tok.body.token.roles.map((r: { name: string }) => r.name)).toEqual(['reader']);
    expect(tok.body.token.application_credential).toMatchObject({ name: 'ci', restricted: true });
    const byName = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['application_credential'], application_credential: { name: 'ci', user: { name: 'apps-user', domain: { id: 'default' } }, secret } } } });
    expect(byName.status).toBe(201);
    expect((await create({ name: 'nested' }, tok.headers['x-subject-token'])).status).toBe(403);
    const wrong = await api().post('/v3/auth/tokens').send({ auth: { identity: { methods: ['application_credential'], application_credential: { id: ac.body.application_credential.id, secret: 'nope' } } } });
    expect(wrong.status).toBe(401);

    const soon = await create({ name: 'short', expires_at: new Date(Date.now() + 1500).toISOString() });
    expect(soon.status).toBe(201);
    const del = await api().delete(`/v3/users/${t.user.id}/application_credentials/${ac.body.application_credential.id}`).set('X-Auth-Token', t.token);
    expect(del.status).toBe(204);
    expect((await api().get('/v3/auth/projects').set('X-Auth-Token', tok.headers['x-subject-token'])).status).toBe(401);
  });

  it('bootstrap is idempotent: new ports update endpoints, passwords stay unless --reset-passwords', async () => {
    const lines: string[] = [];
    const out = process.stdout.write;
    process.stdout.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    try {
      await bootstrapCommand(h.config, [], { KUMO_ADMIN_PASSWORD: 'other-password', KUMO_DEMO_PASSWORD: 'x', KUMO_COMPUTE_PORT: '18774', KUMO_PUBLIC_HOST: '10.0.0.5' });
    } finally {
      process.stdout.write = out;
    }
    expect(lines.join('')).toMatch(/updated endpoint compute public http:\/\/127\.0\.0\.1:8774\/v2\.1 -> http:\/\/10\.0\.0\.5:18774\/v2\.1/);
    expect(lines.join('')).toMatch(/kept {4}user admin/);
    expect(lines.join('')).not.toMatch(/created (domain|project|role|user)/);
    const tok = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { project: 'admin' }));
    expect(tok.status).toBe(201);
    await new Promise((r) => setTimeout(r, 5100)); // the catalog cache lives 5 s
    const fresh = await api().post('/v3/auth/tokens').send(passwordAuth('admin', ADMIN_PASSWORD, { project: 'admin' }));
    const compute = fresh.body.token.catalog.find((c: { type: string }) => c.type === 'compute');
    expect(compute.endpoints.map((e: { url: string }) => e.url)).toEqual(['http://10.0.0.5:18774/v2.1', 'http://10.0.0.5:18774/v2.1', 'http://10.0.0.5:18774/v2.1']);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      await bootstrapCommand(h.config, ['--reset-passwords'], { KUMO_ADMIN_PASSWORD: ADMIN_PASSWORD, KUMO_DEMO_PASSWORD: 'demo-new' });
    } finally {
      process.stdout.write = out;
    }
    expect((await api().post('/v3/auth/tokens').send(passwordAuth('demo', 'demo-new', { project: 'demo' }))).status).toBe(201);
  });
});
