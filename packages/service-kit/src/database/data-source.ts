import pg from 'pg';
import { DataSource, type DataSourceOptions, type MigrationInterface, type MixedList, type EntitySchema } from 'typeorm';
import { InboxMessage } from './inbox.entity.js';
import { CreateInbox1764230400000 } from './inbox.migration.js';

type EntityList = MixedList<Function | string | EntitySchema>;
type MigrationClass = new () => MigrationInterface;

export interface DatabaseDefinition {
  /** The service's own schema; it never reads another's. */
  schema: string;
  entities: Function[];
  /** Migration classes in order; the shared inbox migration is prepended. */
  migrations: MigrationClass[];
}

/** Connection pool of one process: see KUMO_DB_POOL_SIZE / KUMO_DB_POOL_TIMEOUT_S in config.ts. */
export interface PoolOptions {
  size: number;
  timeoutS: number;
}

export const DEFAULT_POOL: PoolOptions = { size: 10, timeoutS: 30 };

export function dataSourceOptions(url: string, service: string, db: DatabaseDefinition, pool: PoolOptions = DEFAULT_POOL): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    schema: db.schema,
    entities: [InboxMessage, ...db.entities] as EntityList,
    migrations: [CreateInbox1764230400000, ...db.migrations],
    migrationsTableName: 'migrations',
    // Schema changes only ever happen through migrations (`main.js migrate`), never at start-up.
    synchronize: false,
    migrationsRun: false,
    applicationName: `kumo-${service}`,
    extra: { max: pool.size, connectionTimeoutMillis: Math.round(pool.timeoutS * 1000) },
  };
}

/** Creates the schema if needed and applies pending migrations. Returns the names applied. */
export async function runMigrations(url: string, service: string, db: DatabaseDefinition): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, application_name: `kumo-${service}-migrate` });
  await client.connect();
  try {
    // Two migrators racing (two replicas starting at once) must not both apply a migration.
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`kumo-migrate-${db.schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema.replace(/"/g, '""')}"`);
    const ds = new DataSource(dataSourceOptions(url, service, db));
    await ds.initialize();
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await ds.destroy();
    }
  } finally {
    await client.end();
  }
}

/** Names of migrations not yet applied to the service's schema. */
export async function pendingMigrations(ds: DataSource): Promise<string[]> {
  const executed = new Set<string>();
  const table = `"${(ds.options as { schema: string }).schema}"."migrations"`;
  try {
    const rows: { name: string }[] = await ds.query(`SELECT name FROM ${table}`);
    rows.forEach((r) => executed.add(r.name));
  } catch {
    // No migrations table yet: everything is pending.
  }
  return ds.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => !executed.has(name));
}
