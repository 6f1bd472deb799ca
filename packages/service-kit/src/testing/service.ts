import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { createServiceApp, loadServiceConfig, type LoadedConfig } from '../core/bootstrap.js';
import type { ServiceDefinition } from '../core/definition.js';
import { runMigrations } from '../database/data-source.js';

export interface TestService {
  app: INestApplication;
  config: LoadedConfig;
  /** http://127.0.0.1:<port> */
  url: string;
  close(): Promise<void>;
}

/**
 * Runs a service in this process against real infrastructure: migrates its schema in
 * `databaseUrl`, connects to `amqpUrl`, listens on an ephemeral port on 127.0.0.1.
 */
export async function startTestService(def: ServiceDefinition, options: { databaseUrl: string; amqpUrl: string; env?: Record<string, string> }): Promise<TestService> {
  const config = loadServiceConfig(def, {
    KUMO_DATABASE_URL: options.databaseUrl,
    KUMO_AMQP_URL: options.amqpUrl,
    KUMO_LOG_LEVEL: process.env.KUMO_TEST_LOG_LEVEL ?? 'silent',
    KUMO_BIND_HOST: '127.0.0.1',
    KUMO_AMQP_RECONNECT_S: '0.5',
    ...options.env,
  });
  await runMigrations(config.KUMO_DATABASE_URL, def.name, def.database);
  const app = await createServiceApp(def, config);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, config, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
