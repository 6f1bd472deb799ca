import { type DynamicModule, Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import { DataSource } from 'typeorm';
import { AmqpRpcTransport } from '../amqp/client.js';
import { AmqpConnection } from '../amqp/connection.js';
import { AmqpMetrics } from '../amqp/metrics.js';
import type { BaseConfig } from '../config/config.js';
import { dataSourceOptions, pendingMigrations } from '../database/data-source.js';
import { InboxService } from '../database/inbox.service.js';
import { OpenStackExceptionFilter } from '../errors/exception.filter.js';
import { BrokerHealthIndicator, HealthController } from '../health/health.controller.js';
import { pinoParams } from '../logging/logging.js';
import { AuthGuard } from '../auth/auth.guard.js';
import { RevocationController } from '../auth/revocation.controller.js';
import { RevocationService } from '../auth/revocation.service.js';
import { remoteKeys, TOKEN_KEYS, TokenVerifier } from '../auth/token-verifier.js';
import { PolicyService } from '../policy/policy.service.js';
import { MetricsController, MetricsService } from '../metrics/metrics.js';
import { KUMO_CONFIG, SERVICE_DEFINITION, type ServiceDefinition } from './definition.js';
import { pingController } from './ping.controller.js';

/** Refuses to start on a schema that migrations have not brought up to date. */
@Injectable()
class SchemaGuard implements OnModuleInit {
  constructor(
    private readonly ds: DataSource,
    @Inject(SERVICE_DEFINITION) private readonly def: ServiceDefinition,
  ) {}

  async onModuleInit() {
    const pending = await pendingMigrations(this.ds);
    if (pending.length > 0) {
      throw new Error(
        `database schema "${this.def.database.schema}" is not up to date: ${pending.length} pending migration(s) (${pending.join(', ')}). ` +
          `Run './kumo migrate' (or 'node dist/main.js migrate' in services/${this.def.name}) and start again.`,
      );
    }
  }
}

@Injectable()
class AmqpLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly transport: AmqpRpcTransport,
    private readonly connection: AmqpConnection,
  ) {}

  async onApplicationShutdown() {
    await this.transport.close();
    await this.connection.close();
  }
}

@Global()
@Module({})
export class KumoCoreModule {
  static forRoot(def: ServiceDefinition, config: BaseConfig): DynamicModule {
    return {
      module: KumoCoreModule,
      imports: [
        LoggerModule.forRoot(pinoParams({ service: def.name, level: config.KUMO_LOG_LEVEL, extraRequestIdHeaders: def.requestIdHeaders })),
        TypeOrmModule.forRoot({ ...dataSourceOptions(config.KUMO_DATABASE_URL, def.name, def.database, { size: config.KUMO_DB_POOL_SIZE, timeoutS: config.KUMO_DB_POOL_TIMEOUT_S }), retryAttempts: 5, retryDelay: 1000 }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [HealthController, MetricsController, RevocationController, pingController(def.name)],
      providers: [
        { provide: KUMO_CONFIG, useValue: config },
        { provide: SERVICE_DEFINITION, useValue: def },
        { provide: MetricsService, useFactory: () => new MetricsService(def.name) },
        { provide: AmqpMetrics, useFactory: (m: MetricsService) => new AmqpMetrics(m.registry), inject: [MetricsService] },
        {
          provide: AmqpConnection,
          useFactory: () =>
            new AmqpConnection({
              url: config.KUMO_AMQP_URL,
              name: `kumo-${def.name}`,
              heartbeatSeconds: config.KUMO_AMQP_HEARTBEAT_S,
              reconnectSeconds: config.KUMO_AMQP_RECONNECT_S,
            }).connect(),
        },
        {
          provide: AmqpRpcTransport,
          useFactory: (c: AmqpConnection, m: AmqpMetrics) => new AmqpRpcTransport(c, def.name, config.KUMO_RPC_TIMEOUT_MS, m),
          inject: [AmqpConnection, AmqpMetrics],
        },
        { provide: APP_FILTER, useFactory: () => new OpenStackExceptionFilter(def.family) },
        def.tokenKeys ? { provide: TOKEN_KEYS, ...def.tokenKeys } : { provide: TOKEN_KEYS, useFactory: () => remoteKeys(config.KUMO_IDENTITY_URL) },
        { provide: 'KUMO_TOKEN_ISSUER', useValue: config.KUMO_TOKEN_ISSUER },
        { provide: 'KUMO_IDENTITY_PUBLIC_URL', useValue: new URL('/v3', config.KUMO_IDENTITY_URL).toString() },
        { provide: PolicyService, useFactory: () => new PolicyService(def.family, def.policy ?? {}, config.KUMO_POLICY_FILE) },
        RevocationService,
        TokenVerifier,
        { provide: APP_GUARD, useClass: AuthGuard },
        BrokerHealthIndicator,
        InboxService,
        SchemaGuard,
        AmqpLifecycle,
        Logger,
      ],
      exports: [KUMO_CONFIG, SERVICE_DEFINITION, MetricsService, AmqpMetrics, AmqpConnection, AmqpRpcTransport, InboxService, PolicyService, RevocationService, TokenVerifier, TOKEN_KEYS],
    };
  }
}
