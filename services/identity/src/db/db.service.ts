import { Injectable } from '@nestjs/common';
import { ApiError } from '@kumo/service-kit';
import { DataSource, type EntityManager } from 'typeorm';

/** Anything that runs SQL: the pool, or one transaction's connection. */
export interface Sql {
  q<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  one<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T | undefined>;
}

class ManagerSql implements Sql {
  constructor(private readonly m: EntityManager | DataSource) {}
  async q<T>(text: string, params: unknown[] = []): Promise<T[]> {
    try {
      const result: unknown = await this.m.query(text, params);
      // TypeORM answers UPDATE and DELETE with [rows, affectedCount]; keep the rows.
      if (/^\s*(UPDATE|DELETE)\b/i.test(text) && Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
      return result as T[];
    } catch (err) {
      throw translate(err);
    }
  }
  async one<T>(text: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.q<T>(text, params))[0];
  }
}

/** PostgreSQL errors a client caused (a duplicate name, a reference in use) become Keystone errors. */
function translate(err: unknown): unknown {
  const code = (err as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (err as { code?: string }).code;
  const table = (err as { driverError?: { table?: string } }).driverError?.table ?? '';
  if (code === '23505') return ApiError.conflict(`Conflict occurred attempting to store ${kindOf(table)} - Duplicate entry.`);
  if (code === '23503') return ApiError.conflict(`Conflict occurred attempting to store ${kindOf(table)} - the object is still referenced.`);
  return err;
}

function kindOf(table: string): string {
  return ({ users: 'user', groups: 'group', app_credential: 'application_credential' } as Record<string, string>)[table] ?? (table || 'object');
}

/**
 * The identity schema is reached with plain SQL (every table is `identity.<name>`): the queries
 * that matter here (effective role assignments, project trees, the catalog) read better as SQL
 * than as ORM calls. All writes of one API call go through one `tx`, so a refused request
 * changes nothing.
 */
@Injectable()
export class Db implements Sql {
  private readonly pool: ManagerSql;
  constructor(readonly dataSource: DataSource) {
    this.pool = new ManagerSql(dataSource);
  }
  q<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]> {
    return this.pool.q<T>(text, params);
  }
  one<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T | undefined> {
    return this.pool.one<T>(text, params);
  }
  tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    return this.dataSource.transaction((m) => fn(new ManagerSql(m)));
  }
}
