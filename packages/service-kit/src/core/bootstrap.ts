import { type INestApplication, Logger as NestLogger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { serviceEventsQueue, serviceQueue } from '@kumo/contracts';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Logger, PinoLogger } from 'nestjs-pino';
import { hostname } from 'node:os';
import { z } from 'zod';
import { AmqpRpcTransport } from '../amqp/client.js';
import { AmqpConnection } from '../amqp/connection.js';
import { AmqpMetrics } from '../amqp/metrics.js';
import { KumoAmqpServer } from '../amqp/server.js';
import { baseConfigShape, type BaseConfig, ConfigError, loadConfig, port } from '../config/config.js';
import { runMigrations } from '../database/data-source.js';
import { writeError } from '../errors/exception.filter.js';
import { MetricsService } from '../metrics/metrics.js';
import { assignRequestId, requestIdHeaders } from '../logging/logging.js';
import { KumoCoreModule } from './core.module.js';
import type { ServiceDefinition } from './definition.js';

export type LoadedConfig = BaseConfig & Record<string, unknown>;

export function configSchemaOf(def: ServiceDefinition) {
  return z.object({ ...baseConfigShape, [def.port.variable]: port(def.port.default), ...(def.config ?? {}) });
}

/** Validates the service's configuration; throws ConfigError naming each wrong variable. */
export function loadServiceConfig(def: ServiceDefinition, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  return loadConfig(def.name, configSchemaOf(def), { env }) as LoadedConfig;
}

const DEFAULT_JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * Builds the Nest application of a service: HTTP API with OpenStack error bodies, request ids,
 * metrics and health, plus the AMQP server for its RPCs and events. Does not listen on HTTP.
 */
export async function createServiceApp(def: ServiceDefinition, config: LoadedConfig): Promise<INestApplication> {
  @Module({ imports: [KumoCoreModule.forRoot(def, config), ...def.modules(config)] })
  class RootModule {}

  const app = await NestFactory.create(RootModule, { bodyParser: false, bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.enableShutdownHooks();

  const http = app.getHttpAdapter().getInstance() as express.Express;
  http.disable('x-powered-by');
  // No OpenStack API sends ETags on JSON bodies; hashing every response costs ~0.5 ms per 100 KB list.
  http.set('etag', false);
  const errorLogger = new NestLogger('errors');
  // The request id comes first so that even a body the parser refuses is answered with one.
  const idHeaders = requestIdHeaders(def.requestIdHeaders);
  app.use((req: Request, res: Response, next: NextFunction) => {
    assignRequestId(req, res, idHeaders);
    next();
  });
  app.use(app.get(MetricsService).middleware());
  app.use(express.json({ limit: config.KUMO_HTTP_BODY_LIMIT, type: [...DEFAULT_JSON_TYPES, ...(def.jsonTypes ?? [])], strict: def.jsonAnyValue !== true }));
  // Body-parser failures never reach Nest's filters: answer them here, in the API's shape.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!err) return next();
    writeError(def.family, err, req, res, errorLogger);
  });

  const pino = await app.resolve(PinoLogger);
  app.connectMicroservice({
    strategy: new KumoAmqpServer({
      service: def.name,
      connection: app.get(AmqpConnection),
      rpcQueues: [serviceQueue(def.name), ...(def.extraRpcQueues ?? [])],
      eventsQueue: serviceEventsQueue(def.name),
      prefetch: config.KUMO_AMQP_PREFETCH,
      metrics: app.get(AmqpMetrics),
      runInContext: (fn, bindings) => pino.runInContext(fn, { bindings }),
    }),
  }, { inheritAppConfig: true });
  await app.startAllMicroservices();
  return app;
}

/**
 * Entry point of every service's main.ts.
 *   node dist/main.js           start (refuses to if the schema has pending migrations)
 *   node dist/main.js migrate   create the schema and apply migrations, then exit
 * A configuration error exits with status 78 (EX_CONFIG) and a message naming the variable.
 */
export async function runService(def: ServiceDefinition, argv: string[] = process.argv.slice(2)): Promise<void> {
  let config: LoadedConfig;
  try {
    config = loadServiceConfig(def);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  if (argv[0] === 'migrate') {
    try {
      const applied = await runMigrations(config.KUMO_DATABASE_URL, def.name, def.database);
      process.stdout.write(`kumo-${def.name}: schema "${def.database.schema}" up to date${applied.length ? ` (applied ${applied.join(', ')})` : ' (nothing to apply)'}\n`);
      process.exit(0);
    } catch (err) {
      process.stderr.write(`kumo-${def.name}: migration failed: ${(err as Error).message}\nCheck KUMO_DATABASE_URL and that PostgreSQL runs ('pg_lsclusters').\n`);
      process.exit(1);
    }
  }
  const command = argv[0] !== undefined ? def.commands?.[argv[0]] : undefined;
  if (command) {
    try {
      process.exit(await command.run(config, argv.slice(1)));
    } catch (err) {
      process.stderr.write(`kumo-${def.name} ${argv[0]}: ${(err as Error).message}\n`);
      process.exit(1);
    }
  }
  if (argv.length > 0) {
    const extra = Object.entries(def.commands ?? {}).map(([name, c]) => `  main.js ${name}  ${c.describe}\n`).join('');
    process.stderr.write(`usage:\n  main.js          start the service\n  main.js migrate  create the schema and apply migrations\n${extra}`);
    process.exit(64);
  }
  let app: INestApplication;
  try {
    app = await createServiceApp(def, config);
  } catch (err) {
    process.stderr.write(`kumo-${def.name}: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const portNumber = config[def.port.variable] as number;
  try {
    await app.listen(portNumber, config.KUMO_BIND_HOST);
  } catch (err) {
    process.stderr.write(
      `kumo-${def.name}: cannot listen on ${config.KUMO_BIND_HOST}:${portNumber}: ${(err as Error).message}. ` +
        `Is another process using the port ('ss -ltnp sport = :${portNumber}')? Set ${def.port.variable} to move it.\n`,
    );
    process.exit(1);
  }
  const log = new NestLogger('main');
  log.log(`kumo-${def.name} ${def.version} listening on http://${config.KUMO_BIND_HOST}:${portNumber}`);
  const transport = app.get(AmqpRpcTransport);
  transport
    .publish('service.started', { service: def.name, version: def.version, hostname: hostname(), pid: process.pid, startedAt: new Date().toISOString() }, { timeoutMs: 5000 })
    .catch((err: Error) => log.warn(`could not announce start-up on the broker: ${err.message}`));
}
