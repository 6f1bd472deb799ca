import { Injectable } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import { type Json, intField, invalid } from '../common/nova.js';
import { Db, type Sql } from '../db/db.js';

/** 2.57: file injection is gone, and with it its quotas (not shown in quota sets, classes or limits; setting them is a 400). */
export const INJECTED_FILE_QUOTAS = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'];

/** Nova's quota resources at microversion 2.1 and their defaults (nova.conf [quota]). */
export const QUOTA_DEFAULTS: Record<string, number> = {
  instances: 10,
  cores: 20,
  ram: 51200,
  floating_ips: 10,
  fixed_ips: -1,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  key_pairs: 100,
  security_groups: 10,
  security_group_rules: 20,
  server_groups: 10,
  server_group_members: 10,
};

/** One limit of a quota update body: an integer (or numeric string) from -1 (unlimited) to 2^31-1. */
export function limitField(o: Json, field: string): number {
  const v = o[field];
  if (v === null || v === '' || typeof v === 'boolean') throw invalid(field, v, `${JSON.stringify(v)} is not of type 'integer', 'string'`);
  return intField(o, field, { min: -1 })!;
}

/** Nova's name of the quota class whose values are the defaults. */
export const DEFAULT_CLASS = 'default';

export interface Usage {
  instances: number;
  cores: number;
  ram: number;
  server_groups: number;
}

@Injectable()
export class QuotaService {
  constructor(private readonly db: Db) {}

  /**
   * Limits of a quota class: its rows over the built-in defaults (Nova's get_class_quotas). The
   * class `default` is the cloud's default quota (os-quota-class-sets/default).
   */
  async classLimits(className: string, sql: Sql = this.db): Promise<Record<string, number>> {
    const rows = await sql.rows<{ resource: string; hard_limit: number }>(`SELECT resource, hard_limit FROM ${this.db.t('quota_class')} WHERE class_name = $1`, [className]);
    const out = { ...QUOTA_DEFAULTS };
    for (const r of rows) if (r.resource in out) out[r.resource] = Number(r.hard_limit);
    return out;
  }

  /** The defaults every project without its own limit gets. */
  defaults(sql: Sql = this.db): Promise<Record<string, number>> {
    return this.classLimits(DEFAULT_CLASS, sql);
  }

  /** A project's limits: its own rows, else the `default` class, else the built-in defaults (one query). */
  async limits(projectId: string, sql: Sql = this.db): Promise<Record<string, number>> {
    const rows = await sql.rows<{ resource: string; hard_limit: number }>(
      `SELECT resource, hard_limit FROM (
         SELECT resource, hard_limit, 0 AS rank FROM ${this.db.t('quota_class')} WHERE class_name = $2
         UNION ALL
         SELECT resource, hard_limit, 1 AS rank FROM ${this.db.t('quota')} WHERE project_id = $1) q
       ORDER BY rank`,
      [projectId, DEFAULT_CLASS],
    );
    const out = { ...QUOTA_DEFAULTS };
    for (const r of rows) if (r.resource in out) out[r.resource] = Number(r.hard_limit);
    return out;
  }

  async limitOf(projectId: string, resource: string): Promise<number> {
    return (await this.limits(projectId))[resource] ?? -1;
  }

  async usage(projectId: string, sql: Sql = this.db): Promise<Usage> {
    const [i] = await sql.rows<{ n: string; cores: string | null; ram: string | null }>(
      `SELECT count(*) AS n, sum(vcpus) AS cores, sum(memory_mb) AS ram FROM ${this.db.t('instance')} WHERE project_id = $1 AND vm_state <> 'deleted'`,
      [projectId],
    );
    const [g] = await sql.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('server_group')} WHERE project_id = $1`, [projectId]);
    return { instances: Number(i!.n), cores: Number(i!.cores ?? 0), ram: Number(i!.ram ?? 0), server_groups: Number(g!.n) };
  }

  /**
   * Takes the project's lock row for the rest of the transaction: every quota check + insert of
   * one project is serialised through it, so N concurrent boots can never all see room for one.
   */
  async lockProject(tx: Sql, projectId: string): Promise<void> {
    await tx.exec(`INSERT INTO ${this.db.t('project_lock')} (project_id) VALUES ($1) ON CONFLICT DO NOTHING`, [projectId]);
    await tx.rows(`SELECT project_id FROM ${this.db.t('project_lock')} WHERE project_id = $1 FOR UPDATE`, [projectId]);
  }

  /**
   * How many instances of (vcpus, ram) fit in the project's quota, up to `max`; throws Nova's
   * 403 when fewer than `min` fit. Call inside the transaction that holds lockProject().
   */
  async instancesAllowed(tx: Sql, projectId: string, vcpus: number, ram: number, min: number, max: number, extra: { cores?: number; ram?: number; instances?: number } = {}): Promise<number> {
    const [limits, used] = await Promise.all([this.limits(projectId, tx), this.usage(projectId, tx)]);
    let allowed = max;
    const room = (resource: 'instances' | 'cores' | 'ram', per: number, inUse: number) => {
      const limit = limits[resource]!;
      if (limit < 0 || per === 0) return;
      allowed = Math.min(allowed, Math.floor((limit - inUse) / per));
    };
    room('instances', 1, used.instances + (extra.instances ?? 0));
    room('cores', vcpus, used.cores + (extra.cores ?? 0));
    room('ram', ram, used.ram + (extra.ram ?? 0));
    if (allowed < min) {
      const over: string[] = [];
      if (limits.instances! >= 0 && used.instances + min > limits.instances!) over.push('instances');
      if (limits.cores! >= 0 && used.cores + vcpus * min > limits.cores!) over.push('cores');
      if (limits.ram! >= 0 && used.ram + ram * min > limits.ram!) over.push('ram');
      throw new ApiError(403, `Quota exceeded for ${over.join(', ') || 'instances'}: Requested ${min}, but already used ${used.instances} of ${limits.instances} instances`, { type: 'forbidden' });
    }
    return allowed;
  }

  async set(projectId: string, values: Record<string, number>): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [resource, limit] of Object.entries(values)) {
        await tx.exec(
          `INSERT INTO ${this.db.t('quota')} (project_id, resource, hard_limit) VALUES ($1,$2,$3) ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit`,
          [projectId, resource, limit],
        );
      }
    });
  }

  async setClass(className: string, values: Record<string, number>): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [resource, limit] of Object.entries(values)) {
        await tx.exec(
          `INSERT INTO ${this.db.t('quota_class')} (class_name, resource, hard_limit) VALUES ($1,$2,$3) ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit`,
          [className, resource, limit],
        );
      }
    });
  }

  async reset(projectId: string): Promise<void> {
    await this.db.exec(`DELETE FROM ${this.db.t('quota')} WHERE project_id = $1`, [projectId]);
  }
}
