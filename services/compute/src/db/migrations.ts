import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/**
 * The compute schema. Deleted instances keep their row (vm_state `deleted`), as in Nova: ids are
 * never reused and `GET` answers 404 for them. Resource claims are rows in `claim`, so releasing
 * one is a DELETE … RETURNING that can only happen once (idempotent releases).
 */
export class ComputeSchema1764600000000 implements MigrationInterface {
  name = 'ComputeSchema1764600000000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE ${s}.flavor (
        id varchar(255) PRIMARY KEY,
        seq bigserial,
        name varchar(255) NOT NULL,
        vcpus integer NOT NULL,
        memory_mb integer NOT NULL,
        root_gb integer NOT NULL,
        ephemeral_gb integer NOT NULL DEFAULT 0,
        swap integer NOT NULL DEFAULT 0,
        rxtx_factor double precision NOT NULL DEFAULT 1.0,
        is_public boolean NOT NULL DEFAULT true,
        disabled boolean NOT NULL DEFAULT false,
        description text,
        extra_specs jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX flavor_name ON ${s}.flavor (name);
      CREATE TABLE ${s}.flavor_project (
        flavor_id varchar(255) NOT NULL REFERENCES ${s}.flavor(id) ON DELETE CASCADE,
        project_id varchar(255) NOT NULL,
        PRIMARY KEY (flavor_id, project_id)
      );
      CREATE TABLE ${s}.keypair (
        user_id varchar(255) NOT NULL,
        name varchar(255) NOT NULL,
        project_id varchar(255) NOT NULL,
        public_key text NOT NULL,
        fingerprint varchar(255) NOT NULL,
        type varchar(16) NOT NULL DEFAULT 'ssh',
        id bigserial,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, name)
      );
      CREATE TABLE ${s}.quota (
        project_id varchar(255) NOT NULL,
        resource varchar(64) NOT NULL,
        hard_limit integer NOT NULL,
        PRIMARY KEY (project_id, resource)
      );
      -- One row per project, locked FOR UPDATE while counting usage and inserting instances.
      CREATE TABLE ${s}.project_lock (project_id varchar(255) PRIMARY KEY);
      CREATE TABLE ${s}.compute_node (
        id serial UNIQUE,
        host varchar(255) PRIMARY KEY,
        availability_zone varchar(255) NOT NULL DEFAULT 'nova',
        hypervisor_type varchar(64) NOT NULL DEFAULT 'fake',
        hypervisor_version varchar(64) NOT NULL DEFAULT '1',
        vcpus integer NOT NULL,
        memory_mb integer NOT NULL,
        local_gb integer NOT NULL,
        vcpus_used integer NOT NULL DEFAULT 0,
        memory_mb_used integer NOT NULL DEFAULT 0,
        local_gb_used integer NOT NULL DEFAULT 0,
        running_vms integer NOT NULL DEFAULT 0,
        cpu_allocation_ratio double precision NOT NULL DEFAULT 4.0,
        ram_allocation_ratio double precision NOT NULL DEFAULT 1.0,
        disk_allocation_ratio double precision NOT NULL DEFAULT 1.0,
        enabled boolean NOT NULL DEFAULT true,
        disabled_reason text,
        cpu_info jsonb NOT NULL DEFAULT '{}',
        last_heartbeat timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.server_group (
        id uuid PRIMARY KEY,
        name varchar(255) NOT NULL,
        project_id varchar(255) NOT NULL,
        user_id varchar(255) NOT NULL,
        policy varchar(32) NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.instance (
        id uuid PRIMARY KEY,
        seq bigserial UNIQUE,
        project_id varchar(255) NOT NULL,
        user_id varchar(255) NOT NULL,
        name varchar(255) NOT NULL,
        hostname varchar(255) NOT NULL DEFAULT '',
        vm_state varchar(32) NOT NULL,
        task_state varchar(32),
        power_state integer NOT NULL DEFAULT 0,
        host varchar(255),
        availability_zone varchar(255),
        requested_az varchar(255),
        flavor jsonb NOT NULL,
        old_flavor jsonb,
        new_flavor jsonb,
        vcpus integer NOT NULL,
        memory_mb integer NOT NULL,
        root_gb integer NOT NULL,
        image_ref varchar(255),
        image_meta jsonb,
        key_name varchar(255),
        key_data text,
        user_data text,
        metadata jsonb NOT NULL DEFAULT '{}',
        requested_networks jsonb NOT NULL DEFAULT '"none"',
        security_groups jsonb NOT NULL DEFAULT '[]',
        ports jsonb NOT NULL DEFAULT '[]',
        access_ipv4 varchar(64) NOT NULL DEFAULT '',
        access_ipv6 varchar(64) NOT NULL DEFAULT '',
        config_drive varchar(16) NOT NULL DEFAULT '',
        reservation_id varchar(64) NOT NULL,
        launch_index integer NOT NULL DEFAULT 0,
        server_group_id uuid,
        locked boolean NOT NULL DEFAULT false,
        locked_by varchar(16),
        fault jsonb,
        generation integer NOT NULL DEFAULT 1,
        spec_version integer NOT NULL DEFAULT 1,
        reboot_seq integer NOT NULL DEFAULT 0,
        reboot_hard boolean NOT NULL DEFAULT false,
        desired_power varchar(16) NOT NULL DEFAULT 'running',
        -- vm_state to settle in when the running task succeeds
        target_vm_state varchar(32),
        attempts integer NOT NULL DEFAULT 0,
        tried_hosts jsonb NOT NULL DEFAULT '[]',
        task_updated_at timestamptz NOT NULL DEFAULT now(),
        task_started_at timestamptz NOT NULL DEFAULT now(),
        launched_at timestamptz,
        terminated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      );
      CREATE INDEX instance_project ON ${s}.instance (project_id, seq) WHERE vm_state <> 'deleted';
      CREATE INDEX instance_task ON ${s}.instance (task_updated_at) WHERE task_state IS NOT NULL;
      CREATE INDEX instance_host ON ${s}.instance (host);
      CREATE TABLE ${s}.claim (
        instance_id uuid NOT NULL,
        kind varchar(16) NOT NULL,
        host varchar(255) NOT NULL REFERENCES ${s}.compute_node(host),
        vcpus integer NOT NULL,
        memory_mb integer NOT NULL,
        disk_gb integer NOT NULL,
        PRIMARY KEY (instance_id, kind)
      );
      CREATE TABLE ${s}.instance_action (
        id bigserial PRIMARY KEY,
        instance_id uuid NOT NULL,
        request_id varchar(128) NOT NULL,
        action varchar(64) NOT NULL,
        project_id varchar(255) NOT NULL,
        user_id varchar(255) NOT NULL,
        message text,
        start_time timestamptz NOT NULL DEFAULT now(),
        finish_time timestamptz,
        result varchar(16)
      );
      CREATE INDEX instance_action_instance ON ${s}.instance_action (instance_id, id);
      CREATE TABLE ${s}.event_outbox (
        id bigserial PRIMARY KEY,
        event varchar(64) NOT NULL,
        payload jsonb NOT NULL,
        request_id varchar(128),
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    for (const t of ['event_outbox', 'instance_action', 'claim', 'instance', 'server_group', 'compute_node', 'project_lock', 'quota', 'keypair', 'flavor_project', 'flavor']) {
      await q.query(`DROP TABLE IF EXISTS ${s}.${t}`);
    }
  }
}

/** The image a running createImage task fills (sent to the agent with every sync until the task ends). */
export class SnapshotImage1764600000002 implements MigrationInterface {
  name = 'SnapshotImage1764600000002';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance ADD COLUMN IF NOT EXISTS snapshot_image_id uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE ${schemaOf(q)}.instance DROP COLUMN IF EXISTS snapshot_image_id`);
  }
}

/**
 * Server actions: the rescue image of a rescued server, the snapshot of a shelved one (and where
 * its data is while unshelving), and console tokens (Nova's console_auth_tokens: only a hash of
 * the token is kept).
 */
export class ServerActions1795000000100 implements MigrationInterface {
  name = 'ServerActions1795000000100';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS rescue_image jsonb;
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS shelved_image_id uuid;
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS shelved_image jsonb;
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS shelved_at timestamptz;
      CREATE TABLE IF NOT EXISTS ${s}.console_auth_token (
        token_hash char(64) PRIMARY KEY,
        instance_id uuid NOT NULL,
        console_type varchar(32) NOT NULL,
        host varchar(255) NOT NULL,
        internal_access_path text,
        expires timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS console_auth_token_expires ON ${s}.console_auth_token (expires);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`DROP TABLE IF EXISTS ${s}.console_auth_token`);
    for (const c of ['rescue_image', 'shelved_image_id', 'shelved_image', 'shelved_at']) await q.query(`ALTER TABLE ${s}.instance DROP COLUMN IF EXISTS ${c}`);
  }
}

/** The standard flavors every Nova deployment documents (m1.*) plus a tiny one for tests and demos. */
export class SeedFlavors1764600000001 implements MigrationInterface {
  name = 'SeedFlavors1764600000001';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    const flavors: [string, string, number, number, number][] = [
      ['1', 'm1.tiny', 1, 512, 1],
      ['2', 'm1.small', 1, 2048, 20],
      ['3', 'm1.medium', 2, 4096, 40],
      ['4', 'm1.large', 4, 8192, 80],
      ['5', 'm1.xlarge', 8, 16384, 160],
      ['42', 'm1.nano', 1, 128, 1],
      ['84', 'm1.micro', 1, 192, 1],
    ];
    for (const [id, name, vcpus, ram, disk] of flavors) {
      await q.query(`INSERT INTO ${s}.flavor (id, name, vcpus, memory_mb, root_gb) VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`, [id, name, vcpus, ram, disk]);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`DELETE FROM ${s}.flavor WHERE id IN ('1','2','3','4','5','42','84')`);
  }
}

/**
 * Refresh of an instance's ports from the network service (network events → conductor/ports-refresher.ts).
 * `network_refresh_at` is set when an event asked for a refresh and cleared once done, so a
 * request survives a crash of the process that received the event (the sweep redoes it);
 * `network_refresh_seq` counts requests, so a refresh clears only the request it answered.
 * The GIN index serves the event handler's "which instances list this port / floating IP"
 * (`ports @> '[{"id": …}]'`, `ports @> '[{"floatingIps": [ … ]}]'`).
 */
export class NetworkRefresh1795000000000 implements MigrationInterface {
  name = 'NetworkRefresh1795000000000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS network_refresh_at timestamptz;
      ALTER TABLE ${s}.instance ADD COLUMN IF NOT EXISTS network_refresh_seq bigint NOT NULL DEFAULT 0;
      CREATE INDEX IF NOT EXISTS instance_network_refresh ON ${s}.instance (network_refresh_at) WHERE network_refresh_at IS NOT NULL;
      CREATE INDEX IF NOT EXISTS instance_ports ON ${s}.instance USING gin (ports jsonb_path_ops) WHERE vm_state <> 'deleted';
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      DROP INDEX IF EXISTS ${s}.instance_ports;
      DROP INDEX IF EXISTS ${s}.instance_network_refresh;
      ALTER TABLE ${s}.instance DROP COLUMN IF EXISTS network_refresh_seq;
      ALTER TABLE ${s}.instance DROP COLUMN IF EXISTS network_refresh_at;
    `);
  }
}

/**
 * Nova's quota classes (os-quota-class-sets). Only the class `default` is used: its rows replace
 * the built-in defaults (QUOTA_DEFAULTS) for every project without its own limit. Other classes
 * are stored and shown, as in Nova, but nothing applies them.
 */
export class QuotaClasses1795000000001 implements MigrationInterface {
  name = 'QuotaClasses1795000000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS ${schemaOf(q)}.quota_class (
        class_name varchar(255) NOT NULL,
        resource varchar(64) NOT NULL,
        hard_limit integer NOT NULL,
        PRIMARY KEY (class_name, resource)
      )
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS ${schemaOf(q)}.quota_class`);
  }
}
