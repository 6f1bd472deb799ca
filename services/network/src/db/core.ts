import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { NetworkEventPayloads } from '@kumo/contracts';
import { type Caller, conflict } from '../api/common.js';
import { Db, type Sql } from './db.js';

export type Row = Record<string, unknown>;

/** PostgreSQL's SQLSTATE of a failed query (TypeORM wraps the driver error). */
export function pgCode(err: unknown): string | undefined {
  const e = err as { code?: string; driverError?: { code?: string } };
  return e?.driverError?.code ?? e?.code;
}

export function pgConstraint(err: unknown): string | undefined {
  const e = err as { constraint?: string; driverError?: { constraint?: string } };
  return e?.driverError?.constraint ?? e?.constraint;
}

/** Serialization failures and deadlocks: the whole transaction may simply be run again. */
export const isRetryable = (err: unknown) => ['40001', '40P01'].includes(pgCode(err) ?? '');

export const QUOTA_DEFAULTS: Record<string, number> = {
  network: 100,
  subnet: 100,
  subnetpool: -1,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
};

/** SQL (on the resource's own table) counting what a project uses of a quota resource. */
const USAGE_SQL: Record<string, (t: (n: string) => string) => string> = {
  network: (t) => `SELECT count(*) AS n FROM ${t('network')} WHERE project_id = $1`,
  subnet: (t) => `SELECT count(*) AS n FROM ${t('subnet')} WHERE project_id = $1`,
  port: (t) => `SELECT count(*) AS n FROM ${t('port')} WHERE project_id = $1`,
  router: (t) => `SELECT count(*) AS n FROM ${t('router')} WHERE project_id = $1`,
  floatingip: (t) => `SELECT count(*) AS n FROM ${t('floatingip')} WHERE project_id = $1`,
  security_group: (t) => `SELECT count(*) AS n FROM ${t('security_group')} WHERE project_id = $1`,
  security_group_rule: (t) => `SELECT count(*) AS n FROM ${t('security_group_rule')} WHERE project_id = $1`,
};

export type NetworkEvent = keyof NetworkEventPayloads;

/** What every resource module shares: SQL, the outbox, quotas and the per-project default group. */
@Injectable()
export class Core {
  /** Set by the event relay: publish soon after a commit queued events. */
  kick: () => void = () => undefined;

  constructor(readonly db: Db) {}

  t(table: string): string {
    return this.db.t(table);
  }

  /**
   * Runs `fn` in a transaction, again (up to 5 times) when PostgreSQL reports a deadlock or
   * serialization failure, then kicks the event relay.
   */
  async tx<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const out = await this.db.transaction(fn);
        this.kick();
        return out;
      } catch (err) {
        if (!isRetryable(err) || attempt >= 5) throw err;
      }
    }
  }

  /** Queues an event in the same transaction as the change it describes (transactional outbox). */
  async emit(tx: Sql, event: NetworkEvent, projectId: string, id: string, resource: Record<string, unknown>, requestId?: string): Promise<void> {
    const payload: NetworkEventPayloads[NetworkEvent] = { id, projectId, resource };
    await tx.exec(`INSERT INTO ${this.t('event_outbox')} (event, payload, request_id) VALUES ($1, $2, $3)`, [event, JSON.stringify(payload), requestId ?? null]);
  }

  async limitOf(sql: Sql, projectId: string, resource: string): Promise<number> {
    const rows = await sql.rows<{ hard_limit: number }>(`SELECT hard_limit FROM ${this.t('quota')} WHERE project_id = $1 AND resource = $2`, [projectId, resource]);
    return rows[0] ? Number(rows[0].hard_limit) : (QUOTA_DEFAULTS[resource] ?? -1);
  }

  async usageOf(sql: Sql, projectId: string, resource: string): Promise<number> {
    const q = USAGE_SQL[resource];
    if (!q) return 0;
    const rows = await sql.rows<{ n: string }>(q((n) => this.t(n)), [projectId]);
    return Number(rows[0]!.n);
  }

  /**
   * Refuses (409 OverQuota) when `adding` more of `resource` would exceed the project's limit
   * (`adding` 0: the rows are already inserted in this transaction and counted). A
   * transaction-scoped advisory lock per project and resource makes check-and-insert atomic:
   * concurrent creates of one project queue here until the holder commits; under READ COMMITTED
   * the count after the lock sees every committed row.
   */
  async checkQuota(tx: Sql, projectId: string, resource: string, adding = 1): Promise<void> {
    const limit = await this.limitOf(tx, projectId, resource);
    if (limit < 0) return;
    await tx.rows(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`network-quota:${projectId}:${resource}`]);
    const used = await this.usageOf(tx, projectId, resource);
    if (used + adding > limit) {
      throw conflict('OverQuota', `Quota exceeded for resources: ['${resource}'] (limit ${limit}, in use ${used}). Delete unused ${resource}s or ask an admin to raise the quota.`);
    }
  }

  /**
   * The project's `default` security group, created with Neutron's default rules on first use
   * (a unique partial index keeps it to one per project even when two requests race).
   */
  async ensureDefaultGroup(projectId: string, sql?: Sql): Promise<string> {
    const find = async (s: Sql) => (await s.rows<{ id: string }>(`SELECT id FROM ${this.t('security_group')} WHERE project_id = $1 AND is_default`, [projectId]))[0]?.id;
    const existing = await find(sql ?? this.db);
    if (existing) return existing;
    const id = randomUUID();
    const created = await this.db.transaction(async (tx) => {
      const n = await tx.exec(
        `INSERT INTO ${this.t('security_group')} (id, project_id, name, description, is_default) VALUES ($1, $2, 'default', 'Default security group', true) ON CONFLICT DO NOTHING`,
        [id, projectId],
      );
      if (!n) return false;
      for (const ethertype of ['IPv4', 'IPv6']) {
        await tx.exec(`INSERT INTO ${this.t('security_group_rule')} (id, project_id, security_group_id, direction, ethertype, remote_group_id) VALUES ($1, $2, $3, 'ingress', $4, $3)`, [randomUUID(), projectId, id, ethertype]);
        await tx.exec(`INSERT INTO ${this.t('security_group_rule')} (id, project_id, security_group_id, direction, ethertype) VALUES ($1, $2, $3, 'egress', $4)`, [randomUUID(), projectId, id, ethertype]);
      }
      await this.emit(tx, 'security_group.created', projectId, id, { id, name: 'default', project_id: projectId });
      return true;
    });
    if (created) this.kick();
    return created ? id : (await find(this.db))!;
  }
}

/** Projects whose default group the caller's request should create (a project-scoped caller). */
export function defaultGroupProject(c: Caller): string | null {
  return c.projectId;
}
