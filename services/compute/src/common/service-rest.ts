import { ApiError } from '@kumo/service-kit';

/** The transport: one HTTP call. Tests replace it to simulate an unreachable or failing service. */
export type HttpCall = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{ status: number; text: string }>;

export const fetchCall: HttpCall = async (url, init) => {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(15000) });
  return { status: res.status, text: await res.text() };
};

export interface RestAnswer {
  status: number;
  /** The parsed body; undefined when it is empty or not JSON. */
  json: unknown;
  text: string;
}

/**
 * One call of a Nova proxy API to another Kumo service's REST API, carrying the caller's own token
 * so that service's policy, scoping and quotas decide (as Nova's neutron/glance/cinder clients do).
 * Contract: a missing base URL (`variable` unset) or an unreachable service is a 503 ApiError that
 * says which; every HTTP answer, 4xx and 5xx included, is returned for the caller to map, since each
 * service words its faults differently.
 */
export async function callService(
  http: HttpCall,
  target: { service: string; base: string | undefined; variable: string; apis: string },
  request: { token: string; method: string; url: string; body?: unknown; contentType?: string },
): Promise<RestAnswer> {
  if (!target.base) throw new ApiError(503, `Nova's ${target.apis} need the ${target.service} service, and this compute API has no ${target.variable} configured.`);
  const headers: Record<string, string> = { 'x-auth-token': request.token, accept: 'application/json' };
  if (request.body !== undefined) headers['content-type'] = request.contentType ?? 'application/json';
  let res: { status: number; text: string };
  try {
    res = await http(`${target.base}${request.url}`, { method: request.method, headers, body: request.body === undefined ? undefined : JSON.stringify(request.body) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(503, `The ${target.service} service at ${target.base} is unreachable (${cause?.code ?? cause?.message ?? (err as Error).message}); try again later.`);
  }
  let json: unknown;
  try {
    json = res.text ? JSON.parse(res.text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text: res.text };
}

/** The 503 for a 5xx (or unreadable) answer of another service: nothing to map, the client may retry. */
export function serviceFailed(service: string, method: string, path: string, status: number, message?: string): ApiError {
  return new ApiError(503, `The ${service} service failed (${method} ${path}: HTTP ${status}${message ? `: ${message}` : ''}); try again later.`);
}
