import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import { isoMicro } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';

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

type Action = 'create' | 'update' | 'add' | 'meta';

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
    const [row] = Number.isNaN(n)
      ? []
      : await sql.rows<AggregateRow>(`SELECT a.*, ${this.hostsSql()} AS hosts FROM ${this.t('aggregate')} a WHERE a.id = $1${lock ? ' FOR UPDATE OF a' : ''}`, [
          n,
        ]);
    if (!row) throw ApiError.notFound(`Aggregate ${id} could not be found.`);
    return row;
  }

  async create(name: string, zone: string | null): Promise<AggregateRow> {
    return this.write(async (tx) => {
      if (zone === INTERNAL_ZONE) throw this.invalid('create', "'N/A'", `Aggregates can not use the internal availability zone '${INTERNAL_ZONE}'`);
      await this.nameFree(tx, name);
      const [row] = await tx.rows<AggregateRow>(
        `INSERT INTO ${this.t('aggregate')} (uuid, name, metadata) VALUES ($1, $2, $3) RETURNING *, '{}'::text[] AS hosts`,
        [randomUUID(), name, JSON.stringify(zone ? { availability_zone: zone } : {})],
      );
      return row!;
    });
  }

  /** Name and/or zone (undefined leaves it; null or empty is refused, as in Nova). */
  async update(id: string, name: string | undefined, zone: string | null | undefined): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      if (name !== undefined && name !== a.name) await this.nameFree(tx, name);
      const metadata = { ...a.metadata };
      if (zone !== undefined) {
        await this.checkZone(tx, a, zone, a.hosts, 'update', true);
        metadata.availability_zone = zone!;
      }
      await tx.exec(`UPDATE ${this.t('aggregate')} SET name = $2, metadata = $3, updated_at = now() WHERE id = $1`, [
        a.id,
        name ?? a.name,
        JSON.stringify(metadata),
      ]);
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
      // FOR SHARE: a service delete (which holds the node FOR UPDATE) either sees this membership or makes this a 404.
      const [node] = await tx.rows(`SELECT host FROM ${this.t('compute_node')} WHERE host = $1 FOR SHARE`, [host]);
      if (!node) throw ApiError.notFound(`Compute host ${host} could not be found.`);
      if (a.hosts.includes(host)) throw ApiError.conflict(`Aggregate ${a.id} already has host ${host}.`);
      if (a.metadata.availability_zone) await this.checkZone(tx, a, a.metadata.availability_zone, [host], 'add', false);
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
      // No zone check (Nova has none): the host falls back to the zone its agent reports.
      if (!a.hosts.includes(host)) throw gone();
      await tx.exec(`DELETE FROM ${this.t('aggregate_host')} WHERE aggregate_id = $1 AND host = $2`, [a.id, host]);
      await tx.exec(`UPDATE ${this.t('aggregate')} SET updated_at = now() WHERE id = $1`, [a.id]);
      return this.get(id, tx);
    });
  }

  /**
   * Nova's set_metadata: keys merged into the metadata, a null value deletes its key — except
   * `availability_zone`, which (as in Nova) cannot be emptied or nulled, only changed.
   */
  async setMetadata(id: string, changes: Record<string, string | null>): Promise<AggregateRow> {
    return this.write(async (tx) => {
      const a = await this.get(id, tx, true);
      if ('availability_zone' in changes) await this.checkZone(tx, a, changes.availability_zone ?? null, a.hosts, 'meta', true);
      const metadata: Record<string, string> = { ...a.metadata };
      for (const [k, v] of Object.entries(changes)) {
        if (v === null) delete metadata[k];
        else metadata[k] = v;
      }
      await tx.exec(`UPDATE ${this.t('aggregate')} SET metadata = $2, updated_at = now() WHERE id = $1`, [a.id, JSON.stringify(metadata)]);
      return this.get(id, tx);
    });
  }

  /** `version`: the request's microversion (2.41 adds the aggregate's `uuid` to every body). */
  view(a: AggregateRow, withHosts = true, version = 2001) {
    return {
      availability_zone: a.metadata.availability_zone ?? null,
      created_at: isoMicro(a.created_at),
      deleted: false,
      deleted_at: null,
      id: a.id,
      name: a.name,
      updated_at: isoMicro(a.updated_at),
      ...(withHosts ? { hosts: a.hosts, metadata: a.metadata } : {}),
      ...(version >= 2041 ? { uuid: a.uuid } : {}),
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
   * Nova's is_safe_to_update_az, for aggregate `a` taking zone `zone` with `hosts`: the zone must
   * be named (null or empty → refused, Nova has no way to drop a zone either) and not `internal`;
   * none of the hosts may be in another aggregate with a different zone; and (`checkInstances`:
   * update and set_metadata, Nova's check_no_instances_in_az) a zone that changes must not
   * have hosts running instances, whose recorded zone would then be wrong. add_host answers
   * 409 (Nova: InvalidAggregateActionAdd → HTTPConflict), update and set_metadata 400.
   */
  private async checkZone(tx: Sql, a: AggregateRow, zone: string | null, hosts: string[], action: Action, checkInstances: boolean): Promise<void> {
    if (!zone) throw this.invalid(action, a.id, `Aggregate ${a.name} does not support empty named availability zone`);
    if (zone === INTERNAL_ZONE) throw this.invalid(action, a.id, `Aggregates can not use the internal availability zone '${INTERNAL_ZONE}'`);
    if (!hosts.length) return;
    const [r] = await tx.rows<{ conflicting: string[]; instances: number }>(
      `SELECT ARRAY(SELECT DISTINCT o.metadata->>'availability_zone' FROM ${this.t('aggregate_host')} oh JOIN ${this.t('aggregate')} o ON o.id = oh.aggregate_id
                     WHERE oh.host = ANY($1) AND o.id <> $2 AND o.metadata->>'availability_zone' IS NOT NULL AND o.metadata->>'availability_zone' <> $3
                     ORDER BY 1) AS conflicting,
              (SELECT count(*)::int FROM ${this.t('instance')} i WHERE i.host = ANY($1) AND i.vm_state <> 'deleted') AS instances`,
      [hosts, a.id, zone],
    );
    if (r!.conflicting.length) throw this.invalid(action, a.id, `One or more hosts already in availability zone(s) ${JSON.stringify(r!.conflicting)}`);
    if (checkInstances && a.metadata.availability_zone !== zone && r!.instances > 0)
      throw this.invalid(action, a.id, 'One or more hosts contain instances in this zone');
  }

  /** Nova's InvalidAggregateAction* messages; add_host's are 409s, the others 400s (as Nova's API maps them). */
  private invalid(action: Action, id: number | string, reason: string): ApiError {
    switch (action) {
      case 'add':
        return ApiError.conflict(`Cannot add host to aggregate ${id}. Reason: ${reason}.`);
      case 'update':
        return ApiError.badRequest(`Cannot update aggregate ${id}. Reason: ${reason}.`);
      case 'meta':
        return ApiError.badRequest(`Cannot update metadata of aggregate ${id}. Reason: ${reason}.`);
      default:
        return ApiError.badRequest(`Unacceptable parameters: ${reason}.`);
    }
  }
}
