import { STATUS_CODES } from 'node:http';

/** The five OpenStack API families, each with its own error body shape. */
export type ApiFamily = 'keystone' | 'nova' | 'cinder' | 'neutron' | 'glance';

export interface ApiErrorOptions {
  /** Neutron: the exception type (`NetworkNotFound`); Nova/Cinder: the fault key (`itemNotFound`). */
  type?: string;
  /** Neutron: `detail`. */
  detail?: string;
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  /**
   * Answer in another family's shape: 401s come from the token check, which in OpenStack is
   * keystonemiddleware and answers in Keystone's shape whatever the service.
   */
  family?: ApiFamily;
}

/**
 * An error an API answers with on purpose: the status and message reach the client as they are,
 * in the body shape of the service's API family. Anything else that escapes a handler is an
 * internal error: logged with its stack, answered with a generic 500 that names the request id.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly options: ApiErrorOptions = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  static badRequest(message: string, options?: ApiErrorOptions) {
    return new ApiError(400, message, options);
  }
  static unauthorized(message = 'The request you have made requires authentication.', options?: ApiErrorOptions) {
    return new ApiError(401, message, options);
  }
  static forbidden(message: string, options?: ApiErrorOptions) {
    return new ApiError(403, message, options);
  }
  static notFound(message: string, options?: ApiErrorOptions) {
    return new ApiError(404, message, options);
  }
  static conflict(message: string, options?: ApiErrorOptions) {
    return new ApiError(409, message, options);
  }
  static tooLarge(message: string, options?: ApiErrorOptions) {
    return new ApiError(413, message, options);
  }
}

/** Nova and Cinder name the top-level key of an error body after the fault (nova/api/openstack/wsgi.py `_fault_names`). */
const NOVA_FAULTS: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  406: 'notAcceptable',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

/** `HTTPNotFound`, `HTTPRequestEntityTooLarge`, ... as webob names them (Neutron's generic types). */
function webobName(status: number): string {
  const phrase = status === 413 ? 'Request Entity Too Large' : reasonPhrase(status);
  return 'HTTP' + phrase.replace(/[^A-Za-z ]/g, '').split(' ').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

export interface RenderedError {
  status: number;
  body: Record<string, unknown>;
}

/** The error body each family's clients parse (openstack-api.md §0 rule 23). */
export function renderError(family: ApiFamily, status: number, message: string, options: ApiErrorOptions = {}): RenderedError {
  switch (family) {
    case 'keystone':
      return { status, body: { error: { code: status, message, title: status === 413 ? 'Request Entity Too Large' : reasonPhrase(status) } } };
    case 'nova':
    case 'cinder': {
      const key = options.type ?? NOVA_FAULTS[status] ?? 'computeFault';
      return { status, body: { [key]: { code: status, message } } };
    }
    case 'neutron':
      return { status, body: { NeutronError: { type: options.type ?? webobName(status), message, detail: options.detail ?? '' } } };
    case 'glance': {
      // webob's JSON error formatter, which Glance answers with.
      return { status, body: { message, code: `${status} ${reasonPhrase(status)}`, title: reasonPhrase(status) } };
    }
  }
}

/** The message of a 500: never the exception text (it may leak internals), always the request id. */
export function internalErrorMessage(family: ApiFamily, requestId: string | undefined): string {
  const ref = requestId ? ` (request id ${requestId})` : '';
  if (family === 'neutron') return `Request Failed: internal server error while processing your request${ref}.`;
  return `An unexpected error prevented the server from fulfilling your request${ref}. The service log has the details.`;
}
