import { randomBytes } from 'node:crypto';
import { createTestDatabase, createTestVhost, startTestService, type TestDatabase, type TestService, type TestVhost } from '@kumo/service-kit/testing';
import { loadServiceConfig } from '@kumo/service-kit';
import request from 'supertest';
import { bootstrapCommand } from '../src/bootstrap/bootstrap.command.js';
import type { IdentityConfig } from '../src/config.js';
import { identityService } from '../src/service.js';

export const ADMIN_PASSWORD = 'admin-Secret-1';
export const DEMO_PASSWORD = 'demo-Secret-1';

export interface IdentityHarness {
  db: TestDatabase;
  vhost: TestVhost;
  svc: TestService;
  url: string;
  env: Record<string, string>;
  config: IdentityConfig;
  /** a fresh project-scoped admin token */
  admin(): Promise<string>;
  close(): Promise<void>;
}

/**
 * A real identity service on an ephemeral port with its own database and vhost, bootstrapped
 * like `./kumo up` does it. Argon2 is made cheap (tests hash many passwords), lockout is 3.
 */
export async function startIdentity(extraEnv: Record<string, string> = {}): Promise<IdentityHarness> {
  const [db, vhost] = await Promise.all([createTestDatabase('kumo_identity_test'), createTestVhost('kumo-identity-test')]);
  const env: Record<string, string> = {
    KUMO_IDENTITY_MASTER_KEY: randomBytes(32).toString('base64'),
    KUMO_ARGON2_MEMORY_KIB: '1024',
    KUMO_ARGON2_PASSES: '1',
    KUMO_IDENTITY_LOCKOUT_FAILURES: '3',
    KUMO_IDENTITY_LOCKOUT_DURATION_S: '2',
    ...extraEnv,
  };
  const config = loadServiceConfig(identityService, { ...env, KUMO_DATABASE_URL: db.url, KUMO_AMQP_URL: vhost.url }) as unknown as IdentityConfig;
  const out = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    await bootstrapCommand(config, [], { KUMO_ADMIN_PASSWORD: ADMIN_PASSWORD, KUMO_DEMO_PASSWORD: DEMO_PASSWORD, KUMO_IDENTITY_PORT: '5000' });
  } finally {
    process.stdout.write = out;
  }
  const svc = await startTestService(identityService, { databaseUrl: db.url, amqpUrl: vhost.url, env });
  const h: IdentityHarness = {
    db,
    vhost,
    svc,
    url: svc.url,
    env,
    config: svc.config as unknown as IdentityConfig,
    admin: () => login(svc.url, 'admin', ADMIN_PASSWORD, { project: 'admin' }),
    async close() {
      await svc.close();
      await Promise.all([db.drop(), vhost.delete()]);
    },
  };
  return h;
}

export function passwordAuth(user: string, password: string, scope?: { project?: string; domain?: string; system?: boolean }) {
  const auth: Record<string, unknown> = { identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } } };
  if (scope?.project) auth.scope = { project: { name: scope.project, domain: { id: 'default' } } };
  if (scope?.domain) auth.scope = { domain: { id: scope.domain } };
  if (scope?.system) auth.scope = { system: { all: true } };
  return { auth };
}

export async function login(url: string, user: string, password: string, scope?: { project?: string; domain?: string; system?: boolean }): Promise<string> {
  const res = await request(url).post('/v3/auth/tokens').send(passwordAuth(user, password, scope));
  if (res.status !== 201) throw new Error(`login of ${user} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.headers['x-subject-token'] as string;
}

/** Creates a project and a member user in it; returns ids and a token of that user. */
export async function tenant(h: IdentityHarness, name: string, role = 'member') {
  const admin = await h.admin();
  const api = request(h.url);
  const project = (await api.post('/v3/projects').set('X-Auth-Token', admin).send({ project: { name, domain_id: 'default' } })).body.project;
  const user = (await api.post('/v3/users').set('X-Auth-Token', admin).send({ user: { name: `${name}-user`, password: `${name}-pw`, domain_id: 'default' } })).body.user;
  const roles = (await api.get(`/v3/roles?name=${role}`).set('X-Auth-Token', admin)).body.roles;
  const put = await api.put(`/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`).set('X-Auth-Token', admin);
  if (put.status !== 204) throw new Error(`grant failed ${put.status}`);
  const token = await login(h.url, `${name}-user`, `${name}-pw`, { project: name });
  return { project, user, token, password: `${name}-pw` };
}

export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}
