import { dataSourceOptions, runMigrations } from '@kumo/service-kit';
import { DataSource } from 'typeorm';
import { hashWith } from '../auth/passwords.js';
import { newId } from '../common/validate.js';
import type { IdentityConfig } from '../config.js';
import { identityDatabase } from '../db/database.js';
import { Db, type Sql } from '../db/db.service.js';
import { loadMasterKey, rotateKeys } from '../keys/key-store.js';

const SERVICES = [
  { type: 'identity', name: 'keystone', description: 'Kumo identity (Keystone v3)', port: ['KUMO_IDENTITY_PORT', 5000], path: '/v3' },
  { type: 'compute', name: 'nova', description: 'Kumo compute (Nova v2.1)', port: ['KUMO_COMPUTE_PORT', 8774], path: '/v2.1' },
  { type: 'image', name: 'glance', description: 'Kumo image (Glance v2)', port: ['KUMO_IMAGE_PORT', 9292], path: '' },
  { type: 'network', name: 'neutron', description: 'Kumo network (Neutron v2.0)', port: ['KUMO_NETWORK_PORT', 9696], path: '' },
  { type: 'volumev3', name: 'cinderv3', description: 'Kumo volume (Cinder v3)', port: ['KUMO_VOLUME_PORT', 8776], path: '/v3/%(project_id)s' },
] as const;

function envPort(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a port number (got ${JSON.stringify(v)})`);
  return n;
}

/**
 * `node dist/main.js bootstrap [--reset-passwords]` (what `./kumo up` runs after `migrate`).
 * Idempotent: creates what is missing — domain Default, projects admin and demo, users admin
 * and demo (passwords from KUMO_ADMIN_PASSWORD / KUMO_DEMO_PASSWORD), roles admin ⇒ member ⇒
 * reader and service, the role assignments, region KUMO_REGION and the catalog of the five
 * services at KUMO_PUBLIC_HOST and KUMO_*_PORT — and brings endpoint URLs up to date. It never
 * changes an existing user's password unless --reset-passwords is given.
 */
export async function bootstrapCommand(config: IdentityConfig, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const resetPasswords = args.includes('--reset-passwords');
  const region = env.KUMO_REGION || 'RegionOne';
  const host = env.KUMO_PUBLIC_HOST || '127.0.0.1';
  const adminPassword = env.KUMO_ADMIN_PASSWORD;
  const demoPassword = env.KUMO_DEMO_PASSWORD;
  const ports = Object.fromEntries(SERVICES.map((s) => [s.type, envPort(env, s.port[0], s.port[1])]));
  const say = (line: string) => process.stdout.write(`${line}\n`);

  await runMigrations(config.KUMO_DATABASE_URL, 'identity', identityDatabase);
  const ds = new DataSource(dataSourceOptions(config.KUMO_DATABASE_URL, 'identity', identityDatabase));
  await ds.initialize();
  try {
    const db = new Db(ds);
    await db.tx(async (sql) => {
      await sql.q(`SELECT pg_advisory_xact_lock(hashtext('kumo-identity-bootstrap'))`);
      const created = async (what: string, row: unknown) => say(row ? `created ${what}` : `kept    ${what}`);

      await created('domain Default (default)', await sql.one(`INSERT INTO identity.domain (id, name, description) VALUES ('default', 'Default', 'The default domain') ON CONFLICT DO NOTHING RETURNING id`));

      const roles: Record<string, string> = {};
      for (const name of ['admin', 'member', 'reader', 'service']) {
        roles[name] = await ensure(sql, `SELECT id FROM identity.role WHERE domain_id IS NULL AND lower(name) = $1`, [name], `INSERT INTO identity.role (id, name, options) VALUES ($1, $2, '{"immutable": true}') RETURNING id`, (id) => [id, name], `role ${name}`, say);
      }
      for (const [prior, implied] of [['admin', 'member'], ['member', 'reader']] as const) {
        const r = await sql.one(`INSERT INTO identity.implied_role VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING prior_role_id`, [roles[prior], roles[implied]]);
        await created(`implied role ${prior} => ${implied}`, r);
      }

      const projects: Record<string, string> = {};
      for (const name of ['admin', 'demo']) {
        projects[name] = await ensure(sql, `SELECT id FROM identity.project WHERE domain_id = 'default' AND lower(name) = $1`, [name], `INSERT INTO identity.project (id, name, domain_id, description) VALUES ($1, $2, 'default', $3) RETURNING id`, (id) => [id, name, `Bootstrap project ${name}`], `project ${name}`, say);
      }

      const users: Record<string, string> = {};
      for (const [name, password, project] of [['admin', adminPassword, 'admin'], ['demo', demoPassword, 'demo']] as const) {
        const existing = await sql.one<{ id: string }>(`SELECT id FROM identity.users WHERE domain_id = 'default' AND lower(name) = $1`, [name]);
        if (existing) {
          users[name] = existing.id;
          if (resetPasswords && password) {
            await sql.q(`UPDATE identity.users SET password_hash = $2, password_created_at = now(), failed_auth_count = 0, failed_auth_at = NULL, enabled = true WHERE id = $1`, [existing.id, await hashWith(config, password)]);
            say(`reset   password of user ${name}`);
          } else say(`kept    user ${name} (${existing.id}); password unchanged${resetPasswords ? ` (KUMO_${name.toUpperCase()}_PASSWORD not set)` : ''}`);
        } else {
          if (!password) throw new Error(`KUMO_${name.toUpperCase()}_PASSWORD must be set to create user ${name}`);
          const id = newId();
          await sql.q(`INSERT INTO identity.users (id, name, domain_id, default_project_id, password_hash, password_created_at) VALUES ($1, $2, 'default', $3, $4, now())`, [id, name, projects[project], await hashWith(config, password)]);
          users[name] = id;
          say(`created user ${name} (${id})`);
        }
      }
      const grant = async (user: string, targetType: string, targetId: string, role: string, label: string) =>
        created(`role assignment ${label}`, await sql.one(`INSERT INTO identity.assignment (actor_type, actor_id, target_type, target_id, role_id) VALUES ('user', $1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING role_id`, [users[user], targetType, targetId, roles[role]]));
      await grant('admin', 'project', projects.admin!, 'admin', 'admin/admin on project admin');
      await grant('admin', 'system', 'all', 'admin', 'admin/admin on the system');
      await grant('admin', 'domain', 'default', 'admin', 'admin/admin on domain Default');
      await grant('demo', 'project', projects.demo!, 'member', 'demo/member on project demo');

      await created(`region ${region}`, await sql.one(`INSERT INTO identity.region (id, description) VALUES ($1, '') ON CONFLICT DO NOTHING RETURNING id`, [region]));
      for (const s of SERVICES) {
        const sid = await ensure(
          sql,
          `SELECT id FROM identity.service WHERE type = $1 ORDER BY (extra->>'name' = $2) DESC LIMIT 1`,
          [s.type, s.name],
          `INSERT INTO identity.service (id, type, extra) VALUES ($1, $2, $3) RETURNING id`,
          (id) => [id, s.type, JSON.stringify({ name: s.name, description: s.description })],
          `service ${s.type} (${s.name})`,
          say,
        );
        const url = `http://${host}:${ports[s.type]}${s.path}`;
        for (const iface of ['public', 'internal', 'admin']) {
          const e = await sql.one<{ id: string; url: string }>(`SELECT id, url FROM identity.endpoint WHERE service_id = $1 AND interface = $2 AND region_id = $3`, [sid, iface, region]);
          if (!e) {
            await sql.q(`INSERT INTO identity.endpoint (id, service_id, region_id, interface, url) VALUES ($1, $2, $3, $4, $5)`, [newId(), sid, region, iface, url]);
            say(`created endpoint ${s.type} ${iface} ${url}`);
          } else if (e.url !== url) {
            await sql.q(`UPDATE identity.endpoint SET url = $2, enabled = true WHERE id = $1`, [e.id, url]);
            say(`updated endpoint ${s.type} ${iface} ${e.url} -> ${url}`);
          } else say(`kept    endpoint ${s.type} ${iface} ${url}`);
        }
      }
      if (env.KUMO_OIDC_ISSUER) await federate(sql, env.KUMO_OIDC_ISSUER, projects, roles, say);

      const key = await sql.one(`SELECT kid FROM identity.signing_key WHERE state = 'primary'`);
      if (!key) say(`created signing key ${(await rotateKeys(sql, loadMasterKey(config))).primary}`);
      else say(`kept    signing key ${(key as { kid: string }).kid}`);
    });
  } finally {
    await ds.destroy();
  }
  say(`identity bootstrap done: region ${region}, endpoints at http://${host}`);
  return 0;
}

async function ensure(sql: Sql, select: string, params: unknown[], insert: string, values: (id: string) => unknown[], label: string, say: (l: string) => void): Promise<string> {
  const row = await sql.one<{ id: string }>(select, params);
  if (row) {
    say(`kept    ${label}`);
    return row.id;
  }
  const id = newId();
  await sql.q(insert, values(id));
  say(`created ${label}`);
  return id;
}

/**
 * With KUMO_OIDC_ISSUER (the Keycloak realm of deploy/keycloak/realm-kumo.json, e.g.
 * http://keycloak:8080/realms/kumo): identity provider `keycloak`, protocol `openid` and a
 * default mapping — realm group kumo-admins → Kumo group kumo-admins (admin on project admin),
 * kumo-members → member on project demo, kumo-readers → reader on project demo. Existing
 * provider, protocol and mapping are left as they are (an operator may have changed them).
 */
async function federate(sql: Sql, issuer: string, projects: Record<string, string>, roles: Record<string, string>, say: (l: string) => void): Promise<void> {
  const doc = (kind: string, id: string, body: object, owner: string | null = null) =>
    sql.one(`INSERT INTO identity.document (kind, id, owner, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id`, [kind, id, owner, JSON.stringify(body)]);
  const group = await ensure(sql, `SELECT id FROM identity.groups WHERE domain_id = 'default' AND lower(name) = 'kumo-admins'`, [], `INSERT INTO identity.groups (id, name, domain_id, description) VALUES ($1, 'kumo-admins', 'default', 'Federated cloud administrators (Keycloak group kumo-admins)') RETURNING id`, (id) => [id], 'group kumo-admins', say);
  await sql.q(`INSERT INTO identity.assignment (actor_type, actor_id, target_type, target_id, role_id) VALUES ('group', $1, 'project', $2, $3) ON CONFLICT DO NOTHING`, [group, projects.admin, roles.admin]);
  const mapping = {
    id: 'keycloak-default',
    rules: [
      { remote: [{ type: 'preferred_username' }, { type: 'email' }, { type: 'groups', any_one_of: ['kumo-admins', 'kumo-members', 'kumo-readers'] }], local: [{ user: { name: '{0}', email: '{1}' } }] },
      { remote: [{ type: 'groups', any_one_of: ['kumo-admins'] }], local: [{ group: { name: 'kumo-admins', domain: { id: 'default' } } }] },
      { remote: [{ type: 'groups', any_one_of: ['kumo-members'] }], local: [{ projects: [{ name: 'demo', roles: [{ name: 'member' }] }] }] },
      { remote: [{ type: 'groups', any_one_of: ['kumo-readers'] }], local: [{ projects: [{ name: 'demo', roles: [{ name: 'reader' }] }] }] },
    ],
  };
  say(`${(await doc('mapping', mapping.id, mapping)) ? 'created' : 'kept   '} mapping keycloak-default`);
  say(`${(await doc('idp', 'keycloak', { id: 'keycloak', enabled: true, description: 'Keycloak realm', remote_ids: [issuer], domain_id: 'default' })) ? 'created' : 'kept   '} identity provider keycloak (${issuer})`);
  say(`${(await doc('protocol', 'keycloak/openid', { id: 'openid', idp_id: 'keycloak', mapping_id: mapping.id }, 'keycloak')) ? 'created' : 'kept   '} protocol keycloak/openid`);
}
