/**
 * The wire format of every Kumo AMQP message (RPC request, RPC reply, event).
 *
 * Version history (bump MINOR for additive changes, MAJOR for breaking ones; a consumer refuses
 * a message whose MAJOR differs from its own, with error code `version_mismatch`):
 *   1.0 - Initial version: envelope {v, pattern, data, ctx}; replies {v, ok, data | error}.
 */
export const CONTRACT_VERSION = '1.0';

/** Request-scoped facts that travel with a message so logs can be correlated across services. */
export interface MessageContext {
  /** `x-openstack-request-id` of the HTTP request that caused this message, if any. */
  requestId?: string;
  /** Service that sent the message. */
  from?: string;
}

export interface Envelope<T = unknown> {
  v: string;
  pattern: string;
  data: T;
  ctx: MessageContext;
}

export type RpcErrorCode =
  /** No reply within the caller's deadline. The request may or may not have been processed. */
  | 'timeout'
  /** The broker could not be reached or the reply channel was lost. */
  | 'unavailable'
  /** The receiver has no handler for this pattern. */
  | 'unknown_method'
  /** Sender and receiver disagree on the contract's major version. */
  | 'version_mismatch'
  /** The request was refused as invalid (maps to HTTP 400). */
  | 'bad_request'
  /** The object does not exist (maps to HTTP 404). */
  | 'not_found'
  /** The object is in a state that does not allow the request (maps to HTTP 409). */
  | 'conflict'
  /** A quota or capacity limit was hit (maps to HTTP 403/413). */
  | 'over_limit'
  /** The handler failed for another reason. */
  | 'internal';

export interface RpcErrorBody {
  code: RpcErrorCode;
  message: string;
  /** Service that produced the error. */
  service?: string;
  details?: Record<string, unknown>;
}

export type RpcReply<T = unknown> =
  | { v: string; ok: true; data: T }
  | { v: string; ok: false; error: RpcErrorBody };

/** Error thrown by every RPC client call that did not get a successful reply. */
export class RpcError extends Error {
  readonly code: RpcErrorCode;
  readonly service?: string;
  readonly pattern?: string;
  readonly details?: Record<string, unknown>;

  constructor(body: RpcErrorBody & { pattern?: string }) {
    super(body.message);
    this.name = 'RpcError';
    this.code = body.code;
    this.service = body.service;
    this.pattern = body.pattern;
    this.details = body.details;
  }

  toBody(): RpcErrorBody {
    return { code: this.code, message: this.message, service: this.service, details: this.details };
  }

  /** HTTP status an API should answer with when this error reaches a REST caller. */
  httpStatus(): number {
    switch (this.code) {
      case 'bad_request':
        return 400;
      case 'not_found':
        return 404;
      case 'conflict':
        return 409;
      case 'over_limit':
        return 403;
      case 'timeout':
      case 'unavailable':
        return 503;
      default:
        return 500;
    }
  }
}

export function majorOf(version: string): string {
  return version.split('.')[0] ?? version;
}

export function isCompatible(version: unknown): boolean {
  return typeof version === 'string' && majorOf(version) === majorOf(CONTRACT_VERSION);
}
