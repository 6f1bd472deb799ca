import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { bool, type Caller, checkKeys, conflict, int, invalidInput, isUuid, nerr, notFound, ownerFor, policyRefused, requireWrite, std, str, tagsOf } from '../api/common.js';
import { Core, type Row } from '../db/core.js';
import type { Sql } from '../db/db.js';
import { bitsOf, type Cidr, cidrsOverlap, formatCidr, parseCidr } from '../ipam/ip.js';
import { updateRow } from '../networks/networks.service.js';

const CREATE_KEYS = ['name', 'description', 'prefixes', 'default_prefixlen', 'min_prefixlen', 'max_prefixlen', 'shared', 'is_default', 'default_quota', 'address_scope_id', 'tags', 'tenant_id', 'project_id'] as const;
const UPDATE_KEYS = ['name', 'description', 'prefixes', 'default_prefixlen', 'min_prefixlen', 'max_prefixlen', 'is_default', 'default_quota', 'address_scope_id', 'tags'] as const;

export function renderPool(r: Row): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    ip_version: Number(r.ip_version),
    prefixes: r.prefixes,
    default_prefixlen: Number(r.default_prefixlen),
    min_prefixlen: Number(r.min_prefixlen),
    max_prefixlen: Number(r.max_prefixlen),
    shared: r.shared,
    is_default: r.is_default,
    default_quota: r.default_quota ?? null,
    address_scope_id: null,
    ...std(r),
  };
}

function prefixesOf(v: unknown): Cidr[] {
  if (!Array.isArray(v) || !v.length) throw invalidInput('prefixes must be a non-empty list of CIDRs.');
  const out = v.map((p) => {
    const c = parseCidr(p);
    if (!c) throw invalidInput(`'${String(p)}' is not a valid CIDR for prefixes.`);
    return c;
  });
  if (new Set(out.map((c) => c.version)).size > 1) throw nerr(400, 'PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
  return out;
}

/**
 * Subnet pools: named sets of prefixes a subnet can be carved from. Allocation (a free block of
 * the requested length that overlaps no subnet already taken from the pool) runs under a row
 * lock on the pool, so two concurrent subnet creates never get the same block.
 */
@Injectable()
export class SubnetPoolsService {
  constructor(readonly core: Core) {}

  private t(n: string) {
    return this.core.t(n);
  }

  async rows(c: Caller, where = 'TRUE', extra: unknown[] = [], sql: Sql = this.core.db): Promise<Row[]> {
    const params = [...extra];
    let pred = 'TRUE';
    if (!c.isAdmin) pred = `(sp.project_id = $${params.push(c.projectId)} OR sp.shared)`;
    return sql.rows(`SELECT sp.* FROM ${this.t('subnetpool')} sp WHERE ${pred} AND ${where} ORDER BY sp.created_at, sp.id`, params);
  }

  async list(c: Caller) {
    return (await this.rows(c)).map(renderPool);
  }

  async get(c: Caller, id: string, sql: Sql = this.core.db): Promise<Row> {
    const rows = isUuid(id) ? await this.rows(c, 'sp.id = $1', [id], sql) : [];
    if (!rows[0]) throw notFound('SubnetPoolNotFound', `Subnet pool ${id} could not be found.`);
    return rows[0];
  }

  async show(c: Caller, id: string) {
    return renderPool(await this.get(c, id));
  }

  private lengths(b: Record<string, unknown>, version: 4 | 6, current?: Row) {
    const bits = bitsOf(version);
    const min = int(b, 'min_prefixlen', 0, bits) ?? (current ? Number(current.min_prefixlen) : version === 4 ? 8 : 64);
    const max = int(b, 'max_prefixlen', 0, bits) ?? (current ? Number(current.max_prefixlen) : bits);
    const def = int(b, 'default_prefixlen', 0, bits) ?? (current ? Number(current.default_prefixlen) : min);
    if (!(min <= def && def <= max)) throw invalidInput(`prefix lengths must satisfy min_prefixlen (${min}) <= default_prefixlen (${def}) <= max_prefixlen (${max}).`);
    return { min, max, def };
  }

  async create(c: Caller, bodies: Record<string, unknown>[]) {
    requireWrite(c, 'create_subnetpool');
    const ids = await this.core.tx(async (tx) => {
      const out: string[] = [];
      for (const b of bodies) {
        checkKeys(b, CREATE_KEYS, 'subnetpool');
        const project = ownerFor(c, b);
        const shared = bool(b, 'shared') ?? false;
        if (shared && !c.isAdmin) throw policyRefused('create_subnetpool:shared');
        const isDefault = bool(b, 'is_default') ?? false;
        if (isDefault && !c.isAdmin) throw policyRefused('create_subnetpool:is_default');
        const prefixes = prefixesOf(b.prefixes);
        const { min, max, def } = this.lengths(b, prefixes[0]!.version);
        const id = randomUUID();
        await tx.exec(
          `INSERT INTO ${this.t('subnetpool')} (id, project_id, name, description, tags, ip_version, prefixes, default_prefixlen, min_prefixlen, max_prefixlen, shared, is_default, default_quota)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [id, project, str(b, 'name') ?? '', str(b, 'description') ?? '', tagsOf(b) ?? [], prefixes[0]!.version, JSON.stringify(prefixes.map(formatCidr)), def, min, max, shared, isDefault, int(b, 'default_quota', 0, 2 ** 31 - 1) ?? null],
        );
        out.push(id);
      }
      return out;
    });
    const rows = await this.rows(c, 'sp.id = ANY($1::uuid[])', [ids]);
    return ids.map((id) => renderPool(rows.find((r) => r.id === id)!));
  }

  async update(c: Caller, id: string, b: Record<string, unknown>) {
    requireWrite(c, 'update_subnetpool');
    checkKeys(b, UPDATE_KEYS, 'subnetpool');
    await this.core.tx(async (tx) => {
      const p = await this.get(c, id, tx);
      if (!c.isAdmin && p.project_id !== c.projectId) throw policyRefused('update_subnetpool');
      const version = Number(p.ip_version) as 4 | 6;
      const set: Record<string, unknown> = {};
      if (b.name !== undefined) set.name = str(b, 'name');
      if (b.description !== undefined) set.description = str(b, 'description');
      if (b.tags !== undefined) set.tags = tagsOf(b);
      if (b.is_default !== undefined) {
        if (!c.isAdmin) throw policyRefused('update_subnetpool:is_default');
        set.is_default = bool(b, 'is_default');
      }
      if (b.default_quota !== undefined) set.default_quota = int(b, 'default_quota', 0, 2 ** 31 - 1) ?? null;
      if (b.prefixes !== undefined) {
        const prefixes = prefixesOf(b.prefixes);
        if (prefixes[0]!.version !== version) throw nerr(400, 'PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
        // Prefixes may grow, never shrink (subnets already carved from them must stay inside).
        const old = (p.prefixes as string[]).map((x) => parseCidr(x)!);
        if (!old.every((o) => prefixes.some((n) => n.base <= o.base && o.base + o.size <= n.base + n.size))) {
          throw nerr(400, 'IllegalSubnetPoolPrefixUpdate', 'Illegal update to prefixes: prefixes of a subnet pool may be extended, not removed or shrunk.');
        }
        set.prefixes = prefixes.map(formatCidr);
      }
      const { min, max, def } = this.lengths(b, version, p);
      set.min_prefixlen = min;
      set.max_prefixlen = max;
      set.default_prefixlen = def;
      await updateRow(tx, this.t('subnetpool'), id, set, ['prefixes']);
    });
    return this.show(c, id);
  }

  async delete(c: Caller, id: string) {
    requireWrite(c, 'delete_subnetpool');
    await this.core.tx(async (tx) => {
      const p = await this.get(c, id, tx);
      if (!c.isAdmin && p.project_id !== c.projectId) throw policyRefused('delete_subnetpool');
      const used = await tx.rows(`SELECT id FROM ${this.t('subnet')} WHERE subnetpool_id = $1 LIMIT 1`, [id]);
      if (used.length) throw conflict('SubnetPoolInUse', `Unable to complete operation on subnet pool ${id}. Subnet ${used[0]!.id as string} was allocated from it; delete its subnets first.`);
      await tx.exec(`DELETE FROM ${this.t('subnetpool')} WHERE id = $1`, [id]);
    });
  }

  /**
   * The CIDR for a subnet from pool `poolId`: `cidr` when given (it must lie in a prefix), else
   * the first free block of `prefixlen` (default: the pool's) among the pool's prefixes.
   */
  async allocate(tx: Sql, c: Caller, poolId: string, version: number | null | undefined, cidrText: unknown, prefixlenRaw: unknown): Promise<{ cidr: Cidr; poolId: string }> {
    const p = await this.get(c, poolId, tx);
    await tx.rows(`SELECT id FROM ${this.t('subnetpool')} WHERE id = $1 FOR UPDATE`, [p.id]);
    const poolVersion = Number(p.ip_version) as 4 | 6;
    if (version !== undefined && version !== null && version !== poolVersion) throw invalidInput(`ip_version ${version} does not match subnet pool ${poolId} (IPv${poolVersion}).`);
    const prefixes = (p.prefixes as string[]).map((x) => parseCidr(x)!);
    const taken = (await tx.rows<{ cidr: string }>(`SELECT cidr FROM ${this.t('subnet')} WHERE subnetpool_id = $1`, [p.id])).map((r) => parseCidr(r.cidr)!);
    if (cidrText !== undefined && cidrText !== null) {
      const c0 = parseCidr(cidrText, true);
      if (!c0) throw invalidInput(`'${String(cidrText)}' is not a valid IP subnet.`);
      if (!prefixes.some((px) => px.version === c0.version && px.base <= c0.base && c0.base + c0.size <= px.base + px.size)) {
        throw nerr(400, 'CidrOutOfPool', `Cidr ${formatCidr(c0)} is not inside the prefixes of subnet pool ${poolId}.`);
      }
      if (taken.some((t) => cidrsOverlap(t, c0))) throw conflict('SubnetAllocationError', `Failed to allocate subnet: ${formatCidr(c0)} overlaps a subnet already allocated from pool ${poolId}.`);
      return { cidr: c0, poolId: p.id as string };
    }
    const len = prefixlenRaw === undefined || prefixlenRaw === null ? Number(p.default_prefixlen) : Number(prefixlenRaw);
    if (!Number.isInteger(len) || len < Number(p.min_prefixlen) || len > Number(p.max_prefixlen)) {
      throw nerr(400, 'IllegalSubnetPrefixLength', `Prefix length ${String(prefixlenRaw)} is outside the pool's range ${String(p.min_prefixlen)}-${String(p.max_prefixlen)}.`);
    }
    const bits = bitsOf(poolVersion);
    const size = 1n << BigInt(bits - len);
    for (const px of prefixes) {
      if (px.prefix > len) continue;
      for (let base = px.base; base + size <= px.base + px.size; ) {
        const cand: Cidr = { version: poolVersion, base, prefix: len, size };
        const clash = taken.find((t) => cidrsOverlap(t, cand));
        if (!clash) return { cidr: cand, poolId: p.id as string };
        // skip past the clashing subnet, aligned to the block size
        const next = clash.base + clash.size;
        base = next > base + size ? ((next + size - 1n) / size) * size : base + size;
      }
    }
    throw conflict('SubnetAllocationError', `Failed to allocate subnet: no free /${len} is left in subnet pool ${poolId}.`);
  }
}
