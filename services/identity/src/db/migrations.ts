import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The identity schema. Plain SQL: ids are Keystone-style (32 hex characters, or chosen names such
 * as `default` and `RegionOne`), names are unique per domain, and every reference that Keystone
 * cascades on delete cascades here too (deleting a project deletes its role assignments).
 */
export class IdentitySchema1764400000000 implements MigrationInterface {
  name = 'IdentitySchema1764400000000';

  async up(q: QueryRunner): Promise<void> {
    const s = `"${(q.connection.options as { schema: string }).schema}"`;
    await q.query(`
      CREATE TABLE ${s}.domain (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        description text,
        enabled boolean NOT NULL DEFAULT true,
        tags text[] NOT NULL DEFAULT '{}',
        extra jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX domain_name_uq ON ${s}.domain (lower(name));

      CREATE TABLE ${s}.project (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        domain_id varchar(64) NOT NULL REFERENCES ${s}.domain(id) ON DELETE CASCADE,
        parent_id varchar(64) REFERENCES ${s}.project(id),
        description text,
        enabled boolean NOT NULL DEFAULT true,
        tags text[] NOT NULL DEFAULT '{}',
        extra jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX project_name_uq ON ${s}.project (domain_id, lower(name));
      CREATE INDEX project_parent_ix ON ${s}.project (parent_id);

      CREATE TABLE ${s}.users (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        domain_id varchar(64) NOT NULL REFERENCES ${s}.domain(id) ON DELETE CASCADE,
        enabled boolean NOT NULL DEFAULT true,
        default_project_id varchar(64),
        password_hash text,
        password_created_at timestamptz,
        failed_auth_count integer NOT NULL DEFAULT 0,
        failed_auth_at timestamptz,
        idp_id varchar(64),
        protocol_id varchar(64),
        unique_id varchar(255),
        extra jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX users_name_uq ON ${s}.users (domain_id, lower(name));
      CREATE UNIQUE INDEX users_federated_uq ON ${s}.users (idp_id, unique_id) WHERE idp_id IS NOT NULL;

      CREATE TABLE ${s}.groups (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        domain_id varchar(64) NOT NULL REFERENCES ${s}.domain(id) ON DELETE CASCADE,
        description text,
        extra jsonb NOT NULL DEFAULT '{}'
      );
      CREATE UNIQUE INDEX groups_name_uq ON ${s}.groups (domain_id, lower(name));

      CREATE TABLE ${s}.group_member (
        group_id varchar(64) NOT NULL REFERENCES ${s}.groups(id) ON DELETE CASCADE,
        user_id varchar(64) NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX group_member_user_ix ON ${s}.group_member (user_id);

      CREATE TABLE ${s}.role (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        domain_id varchar(64) REFERENCES ${s}.domain(id) ON DELETE CASCADE,
        description text,
        options jsonb NOT NULL DEFAULT '{}',
        extra jsonb NOT NULL DEFAULT '{}'
      );
      CREATE UNIQUE INDEX role_name_uq ON ${s}.role (coalesce(domain_id, ''), lower(name));

      CREATE TABLE ${s}.implied_role (
        prior_role_id varchar(64) NOT NULL REFERENCES ${s}.role(id) ON DELETE CASCADE,
        implied_role_id varchar(64) NOT NULL REFERENCES ${s}.role(id) ON DELETE CASCADE,
        PRIMARY KEY (prior_role_id, implied_role_id)
      );

      -- actor: user|group; target: project|domain|system (target_id 'all' for the system)
      CREATE TABLE ${s}.assignment (
        actor_type varchar(8) NOT NULL,
        actor_id varchar(64) NOT NULL,
        target_type varchar(8) NOT NULL,
        target_id varchar(64) NOT NULL,
        role_id varchar(64) NOT NULL REFERENCES ${s}.role(id) ON DELETE CASCADE,
        inherited boolean NOT NULL DEFAULT false,
        PRIMARY KEY (actor_type, actor_id, target_type, target_id, role_id, inherited)
      );
      CREATE INDEX assignment_target_ix ON ${s}.assignment (target_type, target_id);

      CREATE TABLE ${s}.region (
        id varchar(255) PRIMARY KEY,
        description text NOT NULL DEFAULT '',
        parent_region_id varchar(255) REFERENCES ${s}.region(id),
        extra jsonb NOT NULL DEFAULT '{}'
      );

      CREATE TABLE ${s}.service (
        id varchar(64) PRIMARY KEY,
        type varchar(255) NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        extra jsonb NOT NULL DEFAULT '{}'
      );

      CREATE TABLE ${s}.endpoint (
        id varchar(64) PRIMARY KEY,
        service_id varchar(64) NOT NULL REFERENCES ${s}.service(id) ON DELETE CASCADE,
        region_id varchar(255) REFERENCES ${s}.region(id) ON DELETE SET NULL,
        interface varchar(8) NOT NULL,
        url text NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        extra jsonb NOT NULL DEFAULT '{}'
      );

      CREATE TABLE ${s}.app_credential (
        id varchar(64) PRIMARY KEY,
        name varchar(255) NOT NULL,
        user_id varchar(64) NOT NULL REFERENCES ${s}.users(id) ON DELETE CASCADE,
        project_id varchar(64) NOT NULL REFERENCES ${s}.project(id) ON DELETE CASCADE,
        secret_hash text NOT NULL,
        description text,
        expires_at timestamptz,
        unrestricted boolean NOT NULL DEFAULT false,
        roles jsonb NOT NULL DEFAULT '[]',
        access_rules jsonb NOT NULL DEFAULT '[]',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX app_credential_name_uq ON ${s}.app_credential (user_id, name);

      -- Ed25519 token-signing keys. state: primary (signs), previous (verifies only), retired.
      CREATE TABLE ${s}.signing_key (
        kid varchar(64) PRIMARY KEY,
        public_jwk jsonb NOT NULL,
        private_key text NOT NULL,
        state varchar(10) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz
      );

      -- kind: audit|user|project|domain|appcred|key
      CREATE TABLE ${s}.revocation (
        id bigserial PRIMARY KEY,
        kind varchar(10) NOT NULL,
        subject varchar(255) NOT NULL,
        issued_before bigint,
        expires_at bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX revocation_expires_ix ON ${s}.revocation (expires_at);

      -- Opaque documents of the small Keystone APIs: credentials, policies, endpoint groups,
      -- OAuth1 consumers, identity providers, mappings, protocols, domain configs.
      CREATE TABLE ${s}.document (
        kind varchar(32) NOT NULL,
        id varchar(255) NOT NULL,
        owner varchar(255),
        body jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (kind, id)
      );
      CREATE INDEX document_owner_ix ON ${s}.document (kind, owner);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = `"${(q.connection.options as { schema: string }).schema}"`;
    for (const t of ['document', 'revocation', 'signing_key', 'app_credential', 'endpoint', 'service', 'region', 'assignment', 'implied_role', 'role', 'group_member', 'groups', 'users', 'project', 'domain']) {
      await q.query(`DROP TABLE ${s}.${t}`);
    }
  }
}
