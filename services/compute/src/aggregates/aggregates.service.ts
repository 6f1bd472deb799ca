import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import { isoMicro } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';
import { hostZoneSql } from './host-zone.js';

export interface AggregateRow {
  id: number;
  uuid: string;
  name: string;
  metadata: Record<string, string>;
  created_at: Date;
  updated_at: Date | null;
  hosts: string[];
}

/** Nova's zone for internal services; an aggregate may not claim it (Nova refuses it too). */
const INTERNAL_ZONE = 'internal';

type Action = 'create' | 'update' | 'add' | 'remove' | 'meta';

/**
 * Host aggregates (Nova's AggregateAPI). Every change runs in one transaction that first takes a
 * transaction-scoped advisory lock for this schema's aggregates: the availability-zone checks read
 * other aggregates, so two concurrent changes (e.g. two aggregates with different zones taking the
 * same host) must not both pass them. Aggregate changes are rare admin calls; serialising them
 * costs nothing, and the scheduler never takes this lock.
 */
@Injectable()
export class AggregatesService {
  constructor(private readonly db: Db) {}

  private t(table: string): string {
    return this.db.t(table);
  }

  async list(): Promise<AggregateRow[]> {
    return this.db.rows<AggregateRow>(`SELECT a.*, ${this.hostsSql()} AS hosts FROM ${this.t('aggregate')} a ORDER BY a.id`);
  }

  async get(id: string, sql: Sql = this.db, lock = false): Promise<AggregateRow> {
    const n = /^\d{1,9}$/.test(id) ? Number(id) : NaN;
    const [row] = Number.isNaN(n) ? [] : await sql.rows<AggregateRow>(`SELECT a.*, ${this.hostsSql()} AS hosts FROM ${this.t('aggregate')} a WHERE a.id = $1${lock ? ' FOR UPDATE OF a' : ''}`, [n]);
    if (!row) throw ApiError.notFound(`Aggregate ${id} could not be found.`);
    return row;
  }

  async create(name: string, zone: string | null): Promise<AggregateRow> {
    return this.write(async (tx) => {
      if (zone === INTERNAL_ZONE) throw this.invalid('create', "'N/A'", `Aggregates can not use the internal availability zone '${INTERNAL_ZONE}'`);
      await this.nameFree(tx, name);
      const [row] = await tx.rows<AggregateRow>(`INSERT INTO ${this.t('aggregate')} (uuid, name, metadata) VALUES ($1, $2, $3) RETURNING *, '{}'::text[] AS hosts`, [
        randomUUID(),
        name,
        JSON.stringify(zone ? { availability_zone: zone } : {}),
      ]);
      return row!;
    });
  }

  /** Name and/or zone (`zone` null removes it, undefined leaves it). */
  async update(id: string, name: string | undefined, zone: string | null | undefined): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      if (name !== undefined && name !== a.name) await this.nameFree(tx, name);
      const metadata = { ...a.metadata };
      if (zone !== undefined) {
        await this.checkZone(tx, a, zone, a.hosts, [], 'update');
        if (zone === null) delete metadata.availability_zone;
        else metadata.availability_zone = zone;
      }
      await tx.exec(`UPDATE ${this.t('aggregate')} SET name = $2, metadata = $3, updated_at = now() WHERE id = $1`, [a.id, name ?? a.name, JSON.stringify(metadata)]);
      return this.get(id, tx);
    });
  }

  async delete(id: string): Promise<void> {
    await this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      // Nova's InvalidAggregateActionDelete (its message says "remove host", as Nova's does).
      if (a.hosts.length) throw ApiError.badRequest(`Cannot remove host from aggregate ${a.id}. Reason: Host aggregate is not empty.`);
      await tx.exec(`DELETE FROM ${this.t('aggregate')} WHERE id = $1`, [a.id]);
    });
  }

  async addHost(id: string, host: string): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      const [node] = await tx.rows(`SELECT host FROM ${this.t('compute_node')} WHERE host = $1`, [host]);
      if (!node) throw ApiError.notFound(`Compute host ${host} could not be found.`);
      if (a.hosts.includes(host)) throw ApiError.conflict(`Aggregate ${a.id} already has host ${host}.`);
      if (a.metadata.availability_zone) await this.checkZone(tx, a, a.metadata.availability_zone, [host], [], 'add');
      await tx.exec(`INSERT INTO ${this.t('aggregate_host')} (aggregate_id, host) VALUES ($1, $2)`, [a.id, host]);
      await tx.exec(`UPDATE ${this.t('aggregate')} SET updated_at = now() WHERE id = $1`, [a.id]);
      return this.get(id, tx);
    });
  }

  async removeHost(id: string, host: string): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const gone = () => ApiError.notFound(`Cannot remove host ${host} in aggregate ${id}`);
      const a = await this.get(id, tx, true).catch(() => {
        throw gone();
      });
      if (!a.hosts.includes(host)) throw gone();
      if (a.metadata.availability_zone) await this.checkZone(tx, a, a.metadata.availability_zone, [], [host], 'remove');
      await tx.exec(`DELETE FROM ${this.t('aggregate_host')} WHERE aggregate_id = $1 AND host = $2`, [a.id, host]);
      await tx.exec(`UPDATE ${this.t('aggregate')} SET updated_at = now() WHERE id = $1`, [a.id]);
      return this.get(id, tx);
    });
  }

  /** Nova's set_metadata: keys merged into the metadata, a null value deletes its key. */
  async setMetadata(id: string, changes: Record<string, string | null>): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      if ('availability_zone' in changes) {
        const zone = changes.availability_zone;
        if (zone === '') throw this.invalid('meta', a.id, `Aggregate ${a.name} does not support empty named availability zone`);
        if (zone === INTERNAL_ZONE) throw this.invalid('meta', a.id, `Aggregates can not use the internal availability zone '${INTERNAL_ZONE}'`);
        await this.checkZone(tx, a, zone ?? null, a.hosts, [], 'meta');
      }
      const metadata: Record<string, string> = { ...a.metadata };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete metadata[k];
        else metadata[k] = v;
      }
      await tx.exec(`UPDATE ${this.t('aggregate')} SET metadata = $2, updated_at = now() WHERE id = $1`, [a.id, JSON.stringify(metadata)]);
      return this.get(id, tx);
    });
  }

  view(a: AggregateRow, withHosts = true) {
    return {
      availability_zone: a.metadata.availability_zone ?? null,
      created_at: isoMicro(a.created_at),
      deleted: false,
      deleted_at: null,
      id: a.id,
      name: a.name,
      updated_at: isoMicro(a.updated_at),
      ...(withHosts ? { hosts: a.hosts, metadata: a.metadata } : {}),
    };
  }

  private hostsSql(): string {
    return `ARRAY(SELECT ah.host FROM ${this.t('aggregate_host')} ah WHERE ah.aggregate_id = a.id ORDER BY ah.host)`;
  }

  private async write<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await tx.exec(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`${this.t('aggregate')}:write`]);
      return fn(tx);
    });
  }

  private async nameFree(tx: Sql, name: string): Promise<void> {
    const [dup] = await tx.rows(`SELECT id FROM ${this.t('aggregate')} WHERE name = $1`, [name]);
    if (dup) throw ApiError.conflict(`Aggregate ${name} already exists.`);
  }

  /**
   * Nova's is_safe_to_update_az for the hosts a change touches: once `a` has zone `zone` (null:
   * none) with `added` hosts in and `removed` out, no host may be in two aggregates with
   * different zones, and no host that runs instances may change zone (the instances' zone is
   * recorded at boot and is what `availability_zone` filters and moves rely on).
   * add_host refuses with 409 (Nova: InvalidAggregateActionAdd → HTTPConflict), remove_host too,
   * update and set_metadata with 400 (Nova's HTTPBadRequest).
   */
  private async checkZone(tx: Sql, a: AggregateRow, zone: string | null, hosts: string[], removed: string[], action: Action): Promise<void> {
    const touched = [...hosts, ...removed];
    if (!touched.length) return;
    const rows = await tx.rows<{ host: string; current: string; reported: string; others: string[]; instances: number }>(
      `SELECT n.host, ${hostZoneSql(this.db)} AS current, n.availability_zone AS reported,
              ARRAY(SELECT DISTINCT o.metadata->>'availability_zone' FROM ${this.t('aggregate_host')} oh JOIN ${this.t('aggregate')} o ON o.id = oh.aggregate_id
                     WHERE oh.host = n.host AND o.id <> $2 AND o.metadata->>'availability_zone' IS NOT NULL) AS others,
              (SELECT count(*)::int FROM ${this.t('instance')} i WHERE i.host = n.host AND i.vm_state <> 'deleted') AS instances
         FROM ${this.t('compute_node')} n WHERE n.host = ANY($1)`,
      [touched, a.id],
    );
    const conflicting = [...new Set(rows.filter((r) => hosts.includes(r.host) && zone !== null).flatMap((r) => r.others.filter((z) => z !== zone)))];
    if (conflicting.length) throw this.invalid(action, a.id, `One or more hosts already in availability zone(s) ${JSON.stringify(conflicting)}`);
    for (const r of rows) {
      const next = hosts.includes(r.host) && zone !== null ? zone : (r.others[0] ?? r.reported);
      if (next !== r.current && r.instances > 0)
        throw this.invalid(action, a.id, `Host ${r.host} has ${r.instances} instance(s) in availability zone ${r.current}; it cannot move to ${next}`);
    }
  }

  /** Nova's InvalidAggregateAction* messages; add/remove are 409s, the others 400s (as Nova's API maps them). */
  private invalid(action: Action, id: number | string, reason: string): ApiError {
    switch (action) {
      case 'add':
        return ApiError.conflict(`Cannot add host to aggregate ${id}. Reason: ${reason}.`);
      case 'remove':
        return ApiError.conflict(`Cannot remove host from aggregate ${id}. Reason: ${reason}.`);
      case 'update':
        return ApiError.badRequest(`Cannot update aggregate ${id}. Reason: ${reason}.`);
      case 'meta':
        return ApiError.badRequest(`Cannot update metadata of aggregate ${id}. Reason: ${reason}.`);
      default:
        return ApiError.badRequest(`Unacceptable parameters: ${reason}.`);
    }
  }
}
