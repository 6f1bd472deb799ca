import { requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';

/** `http://host:port/v3` as the client reached us, for `links`. */
export function v3Base(req: Request): string {
  return `${requestBaseUrl(req)}/v3`;
}

export function listLinks(req: Request) {
  return { self: `${requestBaseUrl(req)}${req.originalUrl}`, next: null, previous: null };
}
