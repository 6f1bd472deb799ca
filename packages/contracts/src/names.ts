/**
 * Names on the broker. Services never hand-build a queue or routing key: they use these.
 *
 * - One durable queue per service for RPCs addressed to it: `kumo.<service>`.
 * - One durable queue per node agent: `kumo.compute.<host>`, `kumo.network.<host>`.
 * - One topic exchange for facts (events): `kumo.events`; routing key = event name
 *   (`image.active`, `identity.token.revoked`, ...). Each consumer binds its own durable
 *   queue `kumo.<service>.events` with the keys it handles.
 */
export const SERVICE_NAMES = ['identity', 'image', 'network', 'volume', 'compute'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const EVENTS_EXCHANGE = 'kumo.events';

export function isServiceName(value: unknown): value is ServiceName {
  return typeof value === 'string' && (SERVICE_NAMES as readonly string[]).includes(value);
}

export function serviceQueue(service: ServiceName): string {
  return `kumo.${service}`;
}

export function serviceEventsQueue(service: ServiceName): string {
  return `kumo.${service}.events`;
}

const HOST_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Queue of one node agent. Host names follow RFC 1123 labels so they are safe as routing keys. */
export function agentQueue(kind: 'compute' | 'network', host: string): string {
  if (!HOST_RE.test(host)) {
    throw new Error(`invalid agent host name ${JSON.stringify(host)}: use lowercase letters, digits and '-' (RFC 1123 label)`);
  }
  return `kumo.${kind}.${host}`;
}
