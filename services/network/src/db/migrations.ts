import type { MigrationInterface, QueryRunner } from 'typeorm';

function schemaOf(q: QueryRunner): string {
  return `"${(q.connection.options as { schema: string }).schema.replace(/"/g, '""')}"`;
}

/** Columns every Neutron resource has (standard attributes). */
const STD = `
  project_id varchar(64) NOT NULL,
  name varchar(255) NOT NULL DEFAULT '',
  description varchar(255) NOT NULL DEFAULT '',
  tags text[] NOT NULL DEFAULT '{}',
  revision_number integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()`;

/**
 * The network schema. Uniqueness the API promises is enforced here, not in memory, so it holds
 * across concurrent requests and API replicas: one address per network (ip_allocation PK), one
 * MAC per cloud, one VNI/VLAN per segment, one `default` security group per project, one
 * floating IP per address.
 */
export class NetworkSchema1764600000000 implements MigrationInterface {
  name = 'NetworkSchema1764600000000';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE ${s}.network (
        id uuid PRIMARY KEY, ${STD},
        admin_state_up boolean NOT NULL DEFAULT true,
        status varchar(16) NOT NULL DEFAULT 'ACTIVE',
        shared boolean NOT NULL DEFAULT false,
        external boolean NOT NULL DEFAULT false,
        mtu integer NOT NULL DEFAULT 1450,
        port_security_enabled boolean NOT NULL DEFAULT true,
        network_type varchar(16) NOT NULL,
        physical_network varchar(64),
        segmentation_id integer,
        availability_zone_hints text[] NOT NULL DEFAULT '{}'
      );
      CREATE UNIQUE INDEX network_segment ON ${s}.network (network_type, COALESCE(physical_network, ''), segmentation_id) WHERE segmentation_id IS NOT NULL;
      CREATE INDEX network_project ON ${s}.network (project_id);

      CREATE TABLE ${s}.subnet (
        id uuid PRIMARY KEY, ${STD},
        network_id uuid NOT NULL REFERENCES ${s}.network(id),
        ip_version smallint NOT NULL,
        cidr varchar(64) NOT NULL,
        gateway_ip varchar(64),
        allocation_pools jsonb NOT NULL DEFAULT '[]',
        dns_nameservers jsonb NOT NULL DEFAULT '[]',
        host_routes jsonb NOT NULL DEFAULT '[]',
        enable_dhcp boolean NOT NULL DEFAULT true,
        ipv6_ra_mode varchar(32),
        ipv6_address_mode varchar(32)
      );
      CREATE INDEX subnet_network ON ${s}.subnet (network_id);

      CREATE TABLE ${s}.port (
        id uuid PRIMARY KEY, ${STD},
        network_id uuid NOT NULL REFERENCES ${s}.network(id),
        admin_state_up boolean NOT NULL DEFAULT true,
        status varchar(16) NOT NULL DEFAULT 'DOWN',
        mac_address varchar(17) NOT NULL,
        device_id varchar(255) NOT NULL DEFAULT '',
        device_owner varchar(255) NOT NULL DEFAULT '',
        host_id varchar(255) NOT NULL DEFAULT '',
        vif_type varchar(32) NOT NULL DEFAULT 'unbound',
        vnic_type varchar(32) NOT NULL DEFAULT 'normal',
        binding_profile jsonb NOT NULL DEFAULT '{}',
        port_security_enabled boolean NOT NULL DEFAULT true,
        allowed_address_pairs jsonb NOT NULL DEFAULT '[]',
        created_for_server boolean NOT NULL DEFAULT false
      );
      CREATE UNIQUE INDEX port_mac ON ${s}.port (mac_address);
      CREATE INDEX port_network ON ${s}.port (network_id);
      CREATE INDEX port_device ON ${s}.port (device_id);
      CREATE INDEX port_project ON ${s}.port (project_id);

      CREATE TABLE ${s}.ip_allocation (
        network_id uuid NOT NULL REFERENCES ${s}.network(id),
        ip_address varchar(64) NOT NULL,
        subnet_id uuid NOT NULL REFERENCES ${s}.subnet(id),
        port_id uuid NOT NULL REFERENCES ${s}.port(id) ON DELETE CASCADE,
        PRIMARY KEY (network_id, ip_address)
      );
      CREATE INDEX ip_allocation_port ON ${s}.ip_allocation (port_id);
      CREATE INDEX ip_allocation_subnet ON ${s}.ip_allocation (subnet_id);

      CREATE TABLE ${s}.security_group (
        id uuid PRIMARY KEY, ${STD},
        stateful boolean NOT NULL DEFAULT true,
        is_default boolean NOT NULL DEFAULT false
      );
      CREATE UNIQUE INDEX security_group_default ON ${s}.security_group (project_id) WHERE is_default;

      CREATE TABLE ${s}.security_group_rule (
        id uuid PRIMARY KEY,
        project_id varchar(64) NOT NULL,
        security_group_id uuid NOT NULL REFERENCES ${s}.security_group(id) ON DELETE CASCADE,
        direction varchar(8) NOT NULL,
        ethertype varchar(8) NOT NULL,
        protocol varchar(40),
        port_range_min integer,
        port_range_max integer,
        remote_ip_prefix varchar(64),
        remote_group_id uuid,
        description varchar(255) NOT NULL DEFAULT '',
        revision_number integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX security_group_rule_group ON ${s}.security_group_rule (security_group_id);

      CREATE TABLE ${s}.port_security_group (
        port_id uuid NOT NULL REFERENCES ${s}.port(id) ON DELETE CASCADE,
        security_group_id uuid NOT NULL REFERENCES ${s}.security_group(id),
        PRIMARY KEY (port_id, security_group_id)
      );
      CREATE INDEX port_security_group_group ON ${s}.port_security_group (security_group_id);

      CREATE TABLE ${s}.router (
        id uuid PRIMARY KEY, ${STD},
        admin_state_up boolean NOT NULL DEFAULT true,
        status varchar(16) NOT NULL DEFAULT 'ACTIVE',
        gw_network_id uuid REFERENCES ${s}.network(id),
        gw_port_id uuid REFERENCES ${s}.port(id),
        enable_snat boolean NOT NULL DEFAULT true,
        routes jsonb NOT NULL DEFAULT '[]'
      );

      CREATE TABLE ${s}.floatingip (
        id uuid PRIMARY KEY, ${STD},
        floating_network_id uuid NOT NULL REFERENCES ${s}.network(id),
        floating_ip_address varchar(64) NOT NULL,
        floating_port_id uuid NOT NULL REFERENCES ${s}.port(id),
        subnet_id uuid,
        port_id uuid REFERENCES ${s}.port(id),
        fixed_ip_address varchar(64),
        router_id uuid REFERENCES ${s}.router(id),
        status varchar(16) NOT NULL DEFAULT 'DOWN'
      );
      CREATE UNIQUE INDEX floatingip_address ON ${s}.floatingip (floating_network_id, floating_ip_address);
      CREATE UNIQUE INDEX floatingip_fixed ON ${s}.floatingip (port_id, fixed_ip_address) WHERE port_id IS NOT NULL;

      CREATE TABLE ${s}.quota (
        project_id varchar(64) NOT NULL,
        resource varchar(32) NOT NULL,
        hard_limit integer NOT NULL,
        PRIMARY KEY (project_id, resource)
      );

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
    for (const t of ['event_outbox', 'quota', 'floatingip', 'router', 'port_security_group', 'security_group_rule', 'security_group', 'ip_allocation', 'port', 'subnet', 'network']) {
      await q.query(`DROP TABLE IF EXISTS ${s}.${t}`);
    }
  }
}

/** Subnet pools: prefixes subnets can be carved from (`subnetpool_id` + `prefixlen` instead of a cidr). */
export class SubnetPools1764600000001 implements MigrationInterface {
  name = 'SubnetPools1764600000001';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE TABLE ${s}.subnetpool (
        id uuid PRIMARY KEY, ${STD},
        ip_version smallint NOT NULL,
        prefixes jsonb NOT NULL,
        default_prefixlen smallint NOT NULL,
        min_prefixlen smallint NOT NULL,
        max_prefixlen smallint NOT NULL,
        shared boolean NOT NULL DEFAULT false,
        is_default boolean NOT NULL DEFAULT false,
        default_quota integer
      );
      ALTER TABLE ${s}.subnet ADD COLUMN subnetpool_id uuid REFERENCES ${s}.subnetpool(id);
      CREATE INDEX subnet_subnetpool ON ${s}.subnet (subnetpool_id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`ALTER TABLE ${s}.subnet DROP COLUMN subnetpool_id`);
    await q.query(`DROP TABLE ${s}.subnetpool`);
  }
}

/**
 * A render generation per port, so rendered ports can be cached (GET /v2.0/ports is the hottest
 * read: agents, the dashboard and every `server show` ask for it).
 *
 * Contract: `port.render_gen` changes in the same transaction as anything a port's API body is
 * made of — the port row itself, its `ip_allocation` rows (fixed_ips) and its
 * `port_security_group` rows. It is kept by triggers, not by the service code, so no write path
 * (port update, router interface removal, subnet delete, a future one) can forget it. Values come
 * from one sequence: a deleted and recreated id never meets an old generation.
 */
export class PortRenderGeneration1764600000002 implements MigrationInterface {
  name = 'PortRenderGeneration1764600000002';

  async up(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      CREATE SEQUENCE ${s}.port_render_gen;
      ALTER TABLE ${s}.port ADD COLUMN render_gen bigint NOT NULL DEFAULT nextval('${s}.port_render_gen');

      CREATE FUNCTION ${s}.port_render_gen_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        NEW.render_gen := nextval('${s}.port_render_gen');
        RETURN NEW;
      END $fn$;
      CREATE TRIGGER port_render_gen BEFORE UPDATE ON ${s}.port FOR EACH ROW EXECUTE FUNCTION ${s}.port_render_gen_row();

      -- A child row changed: touch its port (whose BEFORE UPDATE trigger then takes a new value).
      -- On a cascaded delete of the port itself the UPDATE finds no row, which is what we want.
      CREATE FUNCTION ${s}.port_render_gen_child() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF TG_OP <> 'INSERT' THEN
          UPDATE ${s}.port SET render_gen = 0 WHERE id = OLD.port_id;
        END IF;
        IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.port_id IS DISTINCT FROM OLD.port_id) THEN
          UPDATE ${s}.port SET render_gen = 0 WHERE id = NEW.port_id;
        END IF;
        RETURN NULL;
      END $fn$;
      CREATE TRIGGER ip_allocation_render_gen AFTER INSERT OR UPDATE OR DELETE ON ${s}.ip_allocation FOR EACH ROW EXECUTE FUNCTION ${s}.port_render_gen_child();
      CREATE TRIGGER port_security_group_render_gen AFTER INSERT OR UPDATE OR DELETE ON ${s}.port_security_group FOR EACH ROW EXECUTE FUNCTION ${s}.port_render_gen_child();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = schemaOf(q);
    await q.query(`
      DROP TRIGGER IF EXISTS ip_allocation_render_gen ON ${s}.ip_allocation;
      DROP TRIGGER IF EXISTS port_security_group_render_gen ON ${s}.port_security_group;
      DROP TRIGGER IF EXISTS port_render_gen ON ${s}.port;
      DROP FUNCTION IF EXISTS ${s}.port_render_gen_child();
      DROP FUNCTION IF EXISTS ${s}.port_render_gen_row();
      ALTER TABLE ${s}.port DROP COLUMN IF EXISTS render_gen;
      DROP SEQUENCE IF EXISTS ${s}.port_render_gen;
    `);
  }
}
