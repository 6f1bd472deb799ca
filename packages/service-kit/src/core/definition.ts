import type { DynamicModule, FactoryProvider, Type } from '@nestjs/common';
import type { ServiceName } from '@kumo/contracts';
import type { z } from 'zod';
import type { BaseConfig } from '../config/config.js';
import type { DatabaseDefinition } from '../database/data-source.js';
import type { ApiFamily } from '../errors/api-error.js';

/** Everything service-kit needs to know to run one Kumo service. */
export interface ServiceDefinition<Extra extends z.ZodRawShape = z.ZodRawShape> {
  name: ServiceName;
  /** Decides the error body shape. */
  family: ApiFamily;
  /** The service's own version, reported by ping and /healthz. */
  version: string;
  /** Environment variable of the HTTP port, and its default. */
  port: { variable: string; default: number };
  /** Service-specific configuration, validated together with the base variables. */
  config?: Extra;
  database: DatabaseDefinition;
  /** The service's feature modules; they can inject KUMO_CONFIG, AmqpRpcTransport, InboxService, DataSource. */
  modules: (config: BaseConfig & Record<string, unknown>) => Array<Type<unknown> | DynamicModule>;
  /** Extra content types parsed as JSON (e.g. Glance's json-patch media types). */
  jsonTypes?: string[];
  /**
   * Accept any JSON value as a body, not only objects and arrays (default: objects/arrays only).
   * Neutron takes a JSON string on `PUT …/tags/{tag}` (Tempest sends `"{}"`); handlers then check shapes themselves.
   */
  jsonAnyValue?: boolean;
  /** Extra response headers carrying the request id (Nova: `x-compute-request-id`). */
  requestIdHeaders?: string[];
  /** Additional queues for @MessagePattern handlers (e.g. one per fake host of an agent). */
  extraRpcQueues?: string[];
  /** Default policy rules of the service's actions (oslo.policy syntax), merged over BASE_POLICY. */
  policy?: Record<string, string>;
  /**
   * Where token-signing public keys come from. Default: identity's JWKS over HTTP
   * (KUMO_IDENTITY_URL). Identity itself provides its key store here.
   */
  tokenKeys?: Omit<FactoryProvider, 'provide'>;
  /**
   * Extra subcommands of `main.js` (besides `migrate`), e.g. identity's `bootstrap`. Each gets the
   * validated configuration and its arguments and returns the process exit status.
   */
  commands?: Record<string, { describe: string; run: (config: BaseConfig & Record<string, unknown>, args: string[]) => Promise<number> }>;
}

export type ServiceConfig<D extends ServiceDefinition> = BaseConfig & (D extends ServiceDefinition<infer E> ? z.infer<z.ZodObject<E>> : never);

export const KUMO_CONFIG = Symbol('KUMO_CONFIG');
export const SERVICE_DEFINITION = Symbol('SERVICE_DEFINITION');
