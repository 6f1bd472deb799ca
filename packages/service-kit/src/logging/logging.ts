import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';

/** `req-<uuid>`, the format of OpenStack request ids (oslo.context). */
export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

const GLOBAL_ID_RE = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Gives the request its id and echoes it in the response headers; idempotent. */
export function assignRequestId(req: IncomingMessage, res: ServerResponse, headers: string[]): string {
  const existing = (req as { id?: string }).id;
  if (existing) return existing;
  const id = newRequestId();
  (req as { id?: string }).id = id;
  for (const h of headers) res.setHeader(h, id);
  return id;
}

export function requestIdHeaders(extra: string[] = []): string[] {
  return ['x-openstack-request-id', ...extra];
}

export interface LoggingOptions {
  service: string;
  level: string;
  /** Extra response headers that carry the request id (Nova also sends `x-compute-request-id`). */
  extraRequestIdHeaders?: string[];
}

/**
 * JSON-lines logging through nestjs-pino. Every HTTP request gets a fresh request id, returned
 * in `x-openstack-request-id` and bound to every log line written while serving it. A valid
 * incoming `X-OpenStack-Request-ID` is kept as `global_request_id` (how OpenStack correlates
 * one user action across services). Tokens and passwords never reach the log: requests are
 * serialised to method, URL and id only.
 */
export function pinoParams(options: LoggingOptions): Params {
  const headers = requestIdHeaders(options.extraRequestIdHeaders);
  return {
    pinoHttp: {
      level: options.level,
      base: { service: options.service, pid: process.pid },
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      genReqId: (req: IncomingMessage, res: ServerResponse) => (req as { id?: string }).id ?? assignRequestId(req, res, headers),
      customProps: (req: IncomingMessage) => {
        const incoming = req.headers['x-openstack-request-id'];
        return typeof incoming === 'string' && GLOBAL_ID_RE.test(incoming) ? { global_request_id: incoming } : {};
      },
      serializers: {
        req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({ id: req.id, method: req.method, url: req.url, remote: req.remoteAddress }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      autoLogging: { ignore: (req: IncomingMessage) => req.url === '/healthz' || req.url === '/metrics' },
      quietReqLogger: false,
    },
  } as Params;
}
