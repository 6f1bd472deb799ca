import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { RpcError } from '@kumo/contracts';
import type { Request, Response } from 'express';
import { type Observable, throwError } from 'rxjs';
import { type ApiFamily, ApiError, type ApiErrorOptions, internalErrorMessage, renderError } from './api-error.js';

interface Classified {
  status: number;
  message: string;
  options?: ApiErrorOptions;
  internal?: boolean;
}

/** body-parser / raw-body error types (express 5) and the answer each deserves. */
function classifyBodyParserError(err: { type?: string; status?: number; limit?: number; expose?: boolean; message?: string }): Classified | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return { status: 400, message: `Malformed request body: ${err.message ?? 'invalid JSON'}.` };
    case 'entity.too.large':
      return { status: 413, message: `Request body is larger than the limit of ${err.limit ?? '?'} bytes.` };
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return { status: 415, message: err.message ?? 'Unsupported content encoding.' };
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return { status: 400, message: err.message ?? 'The request body could not be read.' };
    default:
      return undefined;
  }
}

/**
 * The database could not be reached or lent no connection in time (pg-pool's wait, see
 * KUMO_DB_POOL_TIMEOUT_S): nothing was done, so the client may retry — a 503, not a 500.
 */
function classifyDatabaseUnavailable(exception: unknown): Classified | undefined {
  if (!(exception instanceof Error)) return undefined;
  if (exception.message === 'timeout exceeded when trying to connect') {
    return {
      status: 503,
      message:
        'Every database connection of this service stayed busy until the wait for one ran out; nothing was changed. ' +
        'Try again; if it persists, look for long transactions (pg_stat_activity) or raise KUMO_DB_POOL_SIZE / KUMO_DB_POOL_TIMEOUT_S.',
    };
  }
  const code = (exception as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === '57P03' || exception.message === 'Connection terminated due to connection timeout') {
    return { status: 503, message: 'The database is unreachable; nothing was changed. Try again; if it persists, check that PostgreSQL is running (./kumo status).' };
  }
  return undefined;
}

export function classifyError(exception: unknown): Classified {
  if (exception instanceof ApiError) {
    return { status: exception.status, message: exception.message, options: exception.options };
  }
  if (exception instanceof RpcError) {
    const status = exception.httpStatus();
    if (status >= 500 && exception.code !== 'timeout' && exception.code !== 'unavailable') {
      return { status, message: exception.message, internal: true };
    }
    const message =
      exception.code === 'timeout' || exception.code === 'unavailable'
        ? `The ${exception.service ?? 'backing'} service did not answer in time (${exception.message}). Try again; if it persists, check './kumo status'.`
        : exception.message;
    return { status, message };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    let message = exception.message;
    if (typeof response === 'object' && response && 'message' in response) {
      const m = (response as { message: unknown }).message;
      message = Array.isArray(m) ? m.join('; ') : String(m);
    }
    if (status === 404 && /^Cannot [A-Z]+ /.test(message)) {
      message = `The resource could not be found: ${message.replace(/^Cannot /, '')}.`;
    }
    return { status, message, internal: status >= 500 };
  }
  const db = classifyDatabaseUnavailable(exception);
  if (db) return db;
  if (exception && typeof exception === 'object' && 'type' in exception) {
    const parsed = classifyBodyParserError(exception as never);
    if (parsed) return parsed;
  }
  return { status: 500, message: 'internal', internal: true };
}

/** Writes an error in the family's shape; used by the Nest filter and by the body-parser error middleware. */
export function writeError(family: ApiFamily, exception: unknown, req: Request, res: Response, logger: Logger): void {
  const requestId = (req as { id?: string }).id ?? (res.getHeader('x-openstack-request-id') as string | undefined);
  const c = classifyError(exception);
  let message = c.message;
  if (c.internal) {
    logger.error({ err: exception, requestId, method: req.method, url: req.originalUrl }, 'unhandled error while serving request');
    message = internalErrorMessage(family, requestId);
  } else if (c.status >= 400) {
    logger.debug?.({ status: c.status, message, requestId }, 'request refused');
  }
  if (res.headersSent) {
    // The body is already streaming (e.g. a download): all we can do is cut the connection.
    res.destroy();
    return;
  }
  const rendered = renderError(c.options?.family ?? family, c.status, message, c.options);
  for (const [k, v] of Object.entries(c.options?.headers ?? {})) res.setHeader(k, v);
  if (req.method === 'HEAD') {
    res.status(rendered.status).end();
    return;
  }
  res.status(rendered.status).type('application/json').send(JSON.stringify(rendered.body));
}

@Catch()
export class OpenStackExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('errors');

  constructor(private readonly family: ApiFamily) {}

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // AMQP handlers: hand the original error to KumoAmqpServer, which turns it into a typed reply.
    if (host.getType() !== 'http') return throwError(() => exception);
    const http = host.switchToHttp();
    writeError(this.family, exception, http.getRequest<Request>(), http.getResponse<Response>(), this.logger);
  }
}
