import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, int, invalidInput, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, pgCode, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';

const CREATE_KEYS = [
  'name', 'description', 'admin_state_up', 'shared', 'router:external', 'mtu', 'port_security_enabled', 'tags', 'tenant_id', 'project_id',
  'provider:network_type', 'provider:physical_network', 'provider:segmentation_id', 'availability_zone_hints', 'is_default', 'qos_policy_id', 'dns_domain', 'segments',
] as const;
const UPDATE_KEYS = ['name', 'description', 'admin_state_up', 'shared', 'router:external', 'mtu', 'port_security_enabled', 'tags', 'is_default', 'qos_policy_id', 'dns_domain'] as const;

/** Segmentation ids handed out to networks that name none: VXLAN VNIs and VLAN ids. */
export const SEGMENT_RANGES: Record<string, [number, number]> = { vxlan: [1000, 1999], vlan: [100, 4094] };
export const DEFAULT_PHYSNET = 'public';
const MTU: Record<string, number> = { vxlan: 1450, vlan: 1500, flat: 1500, local: 1500 };

export function renderNetwork(r: Row, subnets: string[], admin: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: r.id,
    name: r.name,
    description: r.description,
    admin_state_up: r.admin_state_up,
    status: r.status,
    subnets,
    shared: r.shared,
    'router:external': r.external,
    mtu: Number(r.mtu),
    port_security_enabled: r.port_security_enabled,
    availability_zone_hints: r.availability_zone_hints ?? [],
    availability_zones: ['nova'],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    is_default: false,
    qos_policy_id: null,
    dns_domain: '',
    l2_adjacency: true,
    ...std(r),
  };
  // Provider attributes describe the fabric: Neutron shows them to admins only.
  if (admin) {
    out['provider:network_type'] = r.network_type;
    out['provider:physical_network'] = r.physical_network ?? null;
    out['provider:segmentation_id'] = r.segmentation_id === null ? null : Number(r.segmentation_id);
  }
  return out;
}

@Injectable()
export class NetworksService {
  constructor(readonly core: Core) {}

  private get t() {
    return (n: string) => this.core.t(n);
  }

  /** SQL predicate on alias `n`: networks the caller may see (own, shared, external; admin all). */
  visible(c: Caller, params: unknown[]): string {
    if (c.isAdmin) return 'TRUE';
    params.push(c.projectId);
    return `(n.project_id = $${params.length} OR n.shared OR n.external)`;
  }

  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    const pred = this.visible(c, params);
    return sql.rows(`SELECT n.* FROM ${this.t('network')} n WHERE ${pred} AND ${where}`, params);
  }

  async render(c: Caller, rows: Row[], sql: Sql = this.core.db): Promise<Record<string, unknown>[]> {
    if (!rows.length) return [];
    const subs = await sql.rows<{ id: string; network_id: string }>(`SELECT id, network_id FROM ${this.t('subnet')} WHERE network_id = ANY($1::uuid[]) ORDER BY created_at, id`, [rows.map((r) => r.id)]);
    const by = new Map<string, string[]>();
    for (const s of subs) by.set(s.network_id, [...(by.get(s.network_id) ?? []), s.id]);
    return rows.map((r) => renderNetwork(r, by.get(r.id as string) ?? [], c.isAdmin));
  }

  async list(c: Caller) {
    return this.render(c, await this.rows(c));
  }

  /** The network row if the caller may see it; 404 NetworkNotFound otherwise. */
  async get(c: Caller, id: string, sql: Sql = this.core.db, lock = false): Promise<Row> {
    const rows = /^[0-9a-f-]{36}$/i.test(id) ? await this.rows(c, 'n.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('NetworkNotFound', `Network ${id} could not be found.`);
    if (lock) await sql.rows(`SELECT id FROM ${this.t('network')} WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return (await this.render(c, [await this.get(c, id)]))[0]!;
  }

  /** The network, which the caller must own (or be admin) to change. */
  async owned(c: Caller, id: string, action: string, sql: Sql = this.core.db): Promise<Row> {
    const n = await this.get(c, id, sql);
    if (!c.isAdmin && n.project_id !== c.projectId) throw policyRefused(action);
    return n;
  }

  async create(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_network');
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) out.push(await this.createOne(tx, c, b));
      return out;
    });
    return this.render(c, await this.rows(c, 'n.id = ANY($1::uuid[])', [ids]).then((rs) => ids.map((id) => rs.find((r) => r.id === id)!)));
  }

  private async createOne(tx: Sql, c: Caller, b: Record<string, unknown>): Promise<string> {
    checkKeys(b, CREATE_KEYS, 'network');
    const project = ownerFor(c, b);
    const shared = bool(b, 'shared') ?? false;
    const external = bool(b, 'router:external') ?? false;
    if ((shared || external) && !c.isAdmin) throw policyRefused(shared ? 'create_network:shared' : 'create_network:router:external');
    let type = b['provider:network_type'] as string | undefined;
    let physnet = (b['provider:physical_network'] as string | null | undefined) ?? null;
    const segId = int(b, 'provider:segmentation_id', 1, 16777215) ?? null;
    if ((type !== undefined || physnet !== null || segId !== null) && !c.isAdmin) throw policyRefused('create_network:provider:network_type');
    type ??= 'vxlan';
    if (!['vxlan', 'vlan', 'flat', 'local'].includes(type)) throw invalidInput(`network type ${type} is not supported: use vxlan, vlan, flat or local.`);
    if (type === 'flat' || type === 'vlan') physnet ??= DEFAULT_PHYSNET;
    if ((type === 'vxlan' || type === 'local') && physnet !== null) throw invalidInput(`provider:physical_network is not allowed for ${type} networks.`);
    if (type === 'flat' || type === 'local') {
      if (segId !== null) throw invalidInput(`provider:segmentation_id is not allowed for ${type} networks.`);
    }
    if (type === 'vlan' && segId !== null && segId > 4094) throw invalidInput(`VLAN id ${segId} is out of range 1-4094.`);
    if (type === 'flat') {
      const taken = await tx.rows(`SELECT id FROM ${this.t('network')} WHERE network_type = 'flat' AND physical_network = $1`, [physnet]);
      if (taken.length) throw conflict('FlatNetworkInUse', `Unable to create the flat network. Physical network ${physnet} is in use.`);
    }
    const mtu = int(b, 'mtu', 68, 9216) ?? MTU[type]!;
    const id = randomUUID();
    const tags = tagsOf(b) ?? [];
    const azHints = Array.isArray(b.availability_zone_hints) ? (b.availability_zone_hints as unknown[]).map(String) : [];
    await this.core.checkQuota(tx, project, 'network');
    const range = SEGMENT_RANGES[type];
    for (let attempt = 0; ; attempt++) {
      let seg = segId;
      if (seg === null && range) {
        const free = await tx.rows<{ g: number }>(
          `SELECT g FROM generate_series($1::int, $2::int) g WHERE NOT EXISTS (SELECT 1 FROM ${this.t('network')} WHERE network_type = $3 AND COALESCE(physical_network, '') = COALESCE($4, '') AND segmentation_id = g) LIMIT 1`,
          [range[0], range[1], type, physnet],
        );
        if (!free[0]) throw conflict('NoNetworkAvailable', `Unable to create the network. No ${type} segmentation id is available; delete unused networks.`);
        seg = Number(free[0].g);
      }
      await tx.exec('SAVEPOINT segment');
      try {
        await tx.exec(
          `INSERT INTO ${this.t('network')} (id, project_id, name, description, admin_state_up, shared, external, mtu, port_security_enabled, network_type, physical_network, segmentation_id, tags, availability_zone_hints)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
          [id, project, str(b, 'name') ?? '', str(b, 'description') ?? '', bool(b, 'admin_state_up') ?? true, shared, external, mtu, bool(b, 'port_security_enabled') ?? true, type, physnet, seg, tags, azHints],
        );
        await tx.exec('RELEASE SAVEPOINT segment');
        return id;
      } catch (err) {
        await tx.exec('ROLLBACK TO SAVEPOINT segment');
        if (pgCode(err) !== '23505') throw err;
        if (segId !== null) throw conflict('SegmentationIdInUse', `Unable to create the network. The ${type} segmentation id ${segId} on physical network ${physnet ?? '(none)'} is in use.`);
        if (attempt > 20) throw err;
      }
    }
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_network');
    checkKeys(b, UPDATE_KEYS, 'network');
    await this.core.tx(async (tx) => {
      const n = await this.owned(c, id, 'update_network', tx);
      const set: Record<string, unknown> = {};
      if (b.name !== undefined) set.name = str(b, 'name');
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.admin_state_up !== undefined) set.admin_state_up = bool(b, 'admin_state_up');
      if (b.port_security_enabled !== undefined) set.port_security_enabled = bool(b, 'port_security_enabled');
      if (b.mtu !== undefined) set.mtu = int(b, 'mtu', 68, 9216);
      if (b.tags !== undefined) set.tags = tagsOf(b);
      if (b.shared !== undefined) {
        const shared = bool(b, 'shared')!;
        if (shared !== n.shared && !c.isAdmin) throw policyRefused('update_network:shared');
        if (!shared && n.shared) {
          const others = await tx.rows(`SELECT 1 FROM ${this.t('port')} WHERE network_id = $1 AND project_id <> $2 LIMIT 1`, [id, n.project_id]);
          if (others.length) throw conflict('InvalidSharedSetting', `Unable to reconfigure sharing settings for network ${id}. Multiple tenants are using it.`);
        }
        set.shared = shared;
      }
      if (b['router:external'] !== undefined) {
        const ext = bool(b, 'router:external')!;
        if (ext !== n.external && !c.isAdmin) throw policyRefused('update_network:router:external');
        if (!ext && n.external) {
          const used = await tx.rows(`SELECT 1 FROM ${this.t('router')} WHERE gw_network_id = $1 UNION ALL SELECT 1 FROM ${this.t('floatingip')} WHERE floating_network_id = $1 LIMIT 1`, [id]);
          if (used.length) throw conflict('NetworkInUse', `Unable to complete operation on network ${id}. There are router gateways or floating IPs on it.`);
        }
        set.external = ext;
      }
      await updateRow(tx, this.t('network'), id, set);
    });
    return this.show(c, id);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_network');
    await this.core.tx(async (tx) => {
      await this.owned(c, id, 'delete_network', tx);
      await tx.rows(`SELECT id FROM ${this.t('network')} WHERE id = $1 FOR UPDATE`, [id]);
      // Unassociated floating IPs go with their external network (as in Neutron); associated ones keep it in use.
      const fips = await tx.rows<{ id: string; project_id: string; floating_port_id: string }>(
        `DELETE FROM ${this.t('floatingip')} WHERE floating_network_id = $1 AND port_id IS NULL RETURNING id, project_id, floating_port_id`,
        [id],
      );
      for (const f of fips) {
        await tx.exec(`DELETE FROM ${this.t('port')} WHERE id = $1`, [f.floating_port_id]);
        await this.core.emit(tx, 'floatingip.deleted', f.project_id, f.id, { id: f.id, floating_network_id: id });
      }
      const ports = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.t('port')} WHERE network_id = $1`, [id]);
      if (Number(ports[0]!.n) > 0) {
        throw conflict('NetworkInUse', `Unable to complete operation on network ${id}. There are one or more ports still in use on the network (${ports[0]!.n}); delete them (or detach servers and router interfaces) first.`);
      }
      const gw = await tx.rows(`SELECT id FROM ${this.t('router')} WHERE gw_network_id = $1 LIMIT 1`, [id]);
      if (gw.length) throw conflict('NetworkInUse', `Unable to complete operation on network ${id}. Router ${gw[0]!.id as string} uses it as external gateway.`);
      await tx.exec(`DELETE FROM ${this.t('subnet')} WHERE network_id = $1`, [id]);
      await tx.exec(`DELETE FROM ${this.t('network')} WHERE id = $1`, [id]);
    });
  }
}

/** UPDATE of some columns, bumping revision_number and updated_at (jsonb values as JSON text). */
export async function updateRow(tx: Sql, table: string, id: string, set: Record<string, unknown>, jsonb: string[] = []): Promise<void> {
  const params: unknown[] = [id];
  const parts = Object.entries(set).map(([k, v]) => {
    params.push(jsonb.includes(k) ? JSON.stringify(v) : v);
    return `${k} = $${params.length}`;
  });
  parts.push('revision_number = revision_number + 1', 'updated_at = now()');
  await tx.exec(`UPDATE ${table} SET ${parts.join(', ')} WHERE id = $1`, params);
}

