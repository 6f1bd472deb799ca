import { Injectable } from '@nestjs/common';
import { DataSource, type QueryRunner } from 'typeorm';

/** What repositories run SQL on: the pool, or one transaction. */
export interface Sql {
  rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Number of rows an UPDATE/DELETE/INSERT touched. */
  exec(sql: string, params?: unknown[]): Promise<number>;
}

class RunnerSql implements Sql {
  constructor(private readonly runner: QueryRunner) {}

  async rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const r = await this.runner.query(sql, params, true);
    return (r.records ?? []) as T[];
  }

  async exec(sql: string, params: unknown[] = []): Promise<number> {
    const r = await this.runner.query(sql, params, true);
    return r.affected ?? 0;
  }
}

/**
 * Plain SQL on the service's TypeORM data source (`t()` qualifies tables with the service's
 * schema from createDataSource), with structured results: TypeORM's EntityManager.query() answers UPDATE
 * and DELETE with `[rows, count]` pairs, which is easy to misread.
 */
@Injectable()
export class Db implements Sql {
  readonly schema: string;

  constructor(private readonly ds: DataSource) {
    this.schema = `"${(ds.options as { schema: string }).schema}"`;
  }

  /** `"schema".table` */
  t(table: string): string {
    return `${this.schema}."${table}"`;
  }

  private async withRunner<T>(fn: (r: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.ds.createQueryRunner();
    await runner.connect();
    try {
      return await fn(runner);
    } finally {
      await runner.release();
    }
  }

  rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.withRunner((r) => new RunnerSql(r).rows<T>(sql, params));
  }

  exec(sql: string, params: unknown[] = []): Promise<number> {
    return this.withRunner((r) => new RunnerSql(r).exec(sql, params));
  }

  /** Runs `fn` in one transaction; rolls back if it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.withRunner(async (runner) => {
      await runner.startTransaction();
      try {
        const result = await fn(new RunnerSql(runner));
        await runner.commitTransaction();
        return result;
      } catch (err) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw err;
      }
    });
  }
}
