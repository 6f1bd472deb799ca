import { Injectable, Logger } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import KeycloakConnect from 'keycloak-connect';
import type { Request } from 'express';
import { Audit } from '../audit/audit.js';
import type { UserRow } from '../common/directory.js';
import { type Json, newId } from '../common/validate.js';
import { Db, type Sql } from '../db/db.service.js';
import { applyMapping, MappingError } from './mapping.js';

const AUTH_FAILED = 'The request you have made requires authentication.';

export interface FederatedSubject {
  user: UserRow;
  methods: string[];
  idp: { id: string; protocol: string; groups: string[] };
}

interface GrantVerifier {
  createGrant(raw: unknown): Promise<{ access_token: { content: Json } }>;
}

/**
 * Federation with Keycloak (OIDC): an access token issued by a realm listed in an identity
 * provider's `remote_ids` (its issuer, `https://kc/realms/<realm>`) is verified by
 * keycloak-connect's GrantManager — RS256 signature against the realm's key (`realm_public_key`
 * on the identity provider, else the realm JWKS at <issuer>/protocol/openid-connect/certs,
 * refetched on an unknown kid), issuer, expiry and `typ: Bearer` — then the protocol's mapping
 * turns its claims into a shadow user (created on first login, updated after), group
 * memberships and project role assignments.
 */
@Injectable()
export class Federation {
  private readonly log = new Logger('federation');
  private readonly verifiers = new Map<string, GrantVerifier>();

  constructor(
    private readonly db: Db,
    private readonly audit: Audit,
  ) {}

  private verifierFor(issuer: string, idp: Json): GrantVerifier {
    const key = `${issuer}|${String(idp.realm_public_key ?? '')}|${String(idp.client_id ?? '')}`;
    let v = this.verifiers.get(key);
    if (!v) {
      const at = issuer.lastIndexOf('/realms/');
      if (at < 0) throw ApiError.unauthorized(`${AUTH_FAILED} The identity provider's issuer ${issuer} is not a Keycloak realm URL (…/realms/<realm>).`);
      const kc = new KeycloakConnect({}, {
        realm: issuer.slice(at + '/realms/'.length),
        'auth-server-url': issuer.slice(0, at),
        resource: (idp.client_id as string | undefined) ?? 'kumo',
        'bearer-only': true,
        'ssl-required': 'external',
        'confidential-port': 0,
        ...(idp.realm_public_key ? { 'realm-public-key': idp.realm_public_key } : {}),
        ...(idp.client_id ? { 'verify-token-audience': true } : {}),
      } as never);
      v = kc.grantManager as unknown as GrantVerifier;
      this.verifiers.set(key, v);
    }
    return v;
  }

  async authenticate(idpId: string, protocolId: string, accessToken: string, req: Request): Promise<FederatedSubject> {
    const fail = (reason: string) => {
      this.audit.emit({ action: 'authenticate', outcome: 'failure', initiator: { address: req.ip, method: 'openid' }, target: { type: 'identity_provider', id: idpId }, reason });
      return ApiError.unauthorized(AUTH_FAILED);
    };
    const idpRow = await this.db.one<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'idp' AND id = $1`, [idpId.slice(0, 255)]);
    const idp = idpRow?.body;
    if (!idp || idp.enabled === false) throw fail('unknown or disabled identity provider');
    const proto = await this.db.one<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'protocol' AND id = $1`, [`${idpId}/${protocolId}`.slice(0, 255)]);
    if (!proto) throw fail(`identity provider has no protocol ${protocolId}`);
    const mapping = await this.db.one<{ body: Json }>(`SELECT body FROM identity.document WHERE kind = 'mapping' AND id = $1`, [proto.body.mapping_id]);
    if (!mapping) throw fail('protocol mapping not found');
    let issuer: unknown;
    try {
      issuer = (JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as Json).iss;
    } catch {
      throw fail('malformed access token');
    }
    const remoteIds = Array.isArray(idp.remote_ids) ? (idp.remote_ids as string[]) : [];
    if (typeof issuer !== 'string' || !remoteIds.includes(issuer)) throw fail('token issuer is not one of the identity provider remote_ids');
    let claims: Json;
    try {
      const grant = await this.verifierFor(issuer, idp).createGrant({ access_token: accessToken });
      claims = grant.access_token.content;
    } catch (err) {
      throw fail(`access token refused: ${(err as Error).message}`);
    }
    let mapped;
    try {
      mapped = applyMapping(mapping.body.rules, claims);
    } catch (err) {
      if (err instanceof MappingError) throw fail(err.message);
      throw err;
    }
    const uniqueId = String(mapped.user?.id ?? claims.sub ?? mapped.user?.name);
    const domainId = (idp.domain_id as string | undefined) ?? 'default';
    const { user, groups } = await this.db.tx(async (sql) => {
      let user = await sql.one<UserRow>(`SELECT * FROM identity.users WHERE idp_id = $1 AND unique_id = $2`, [idpId, uniqueId]);
      const name = String(mapped.user?.name ?? uniqueId).slice(0, 255);
      const extra = mapped.user?.email ? { email: mapped.user.email } : {};
      if (!user) {
        const taken = await sql.one(`SELECT 1 FROM identity.users WHERE domain_id = $1 AND lower(name) = lower($2)`, [domainId, name]);
        user = (await sql.one<UserRow>(
          `INSERT INTO identity.users (id, name, domain_id, enabled, idp_id, protocol_id, unique_id, extra) VALUES ($1, $2, $3, true, $4, $5, $6, $7) RETURNING *`,
          [newId(), taken ? `${name}@${idpId}`.slice(0, 255) : name, domainId, idpId, protocolId, uniqueId, JSON.stringify(extra)],
        ))!;
        this.log.log(`created shadow user ${user.id} (${user.name}) for ${idpId}/${uniqueId}`);
      } else {
        await sql.q(`UPDATE identity.users SET extra = extra || $2::jsonb WHERE id = $1`, [user.id, JSON.stringify(extra)]);
      }
      const groupIds: string[] = [];
      for (const g of mapped.groups) {
        const row = g.id
          ? await sql.one<{ id: string }>(`SELECT id FROM identity.groups WHERE id = $1`, [g.id])
          : await sql.one<{ id: string }>(`SELECT id FROM identity.groups WHERE lower(name) = lower($1) AND domain_id = coalesce($2, (SELECT id FROM identity.domain WHERE name = $3), $4)`, [g.name, g.domain?.id ?? null, g.domain?.name ?? null, domainId]);
        if (row) groupIds.push(row.id);
      }
      // Federated group membership follows the identity provider at every login.
      await sql.q(`DELETE FROM identity.group_member WHERE user_id = $1 AND NOT (group_id = ANY($2))`, [user.id, groupIds]);
      for (const gid of groupIds) await sql.q(`INSERT INTO identity.group_member (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [gid, user.id]);
      for (const p of mapped.projects) await this.grantProject(sql, user, domainId, p);
      return { user, groups: groupIds };
    });
    if (!user.enabled) throw fail('shadow user disabled');
    return { user, methods: ['openid'], idp: { id: idpId, protocol: protocolId, groups } };
  }

  private async grantProject(sql: Sql, user: UserRow, domainId: string, p: { name: string; roles: { name: string }[] }): Promise<void> {
    if (!p || typeof p.name !== 'string') return;
    let project = await sql.one<{ id: string }>(`SELECT id FROM identity.project WHERE domain_id = $1 AND lower(name) = lower($2)`, [domainId, p.name]);
    if (!project) {
      project = (await sql.one<{ id: string }>(`INSERT INTO identity.project (id, name, domain_id, description) VALUES ($1, $2, $3, $4) RETURNING id`, [newId(), p.name.slice(0, 64), domainId, 'created by federation']))!;
    }
    for (const r of p.roles ?? []) {
      const role = await sql.one<{ id: string }>(`SELECT id FROM identity.role WHERE domain_id IS NULL AND lower(name) = lower($1)`, [r.name]);
      if (role) await sql.q(`INSERT INTO identity.assignment (actor_type, actor_id, target_type, target_id, role_id) VALUES ('user', $1, 'project', $2, $3) ON CONFLICT DO NOTHING`, [user.id, project.id, role.id]);
    }
  }
}
