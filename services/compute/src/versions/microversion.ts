import type { NextFunction, Request, Response } from 'express';

export const MIN_MICROVERSION = '2.1';
/** Raise deliberately: every version up to this one must be implemented (openstack-api.md §2.5). */
export const MAX_MICROVERSION = '2.1';

/**
 * Echoes the compute microversion on every response (Tempest fails any compute test without
 * these headers) and refuses versions outside [min, max] with 406, as Nova does.
 * Full per-request microversion negotiation arrives with the servers API.
 */
export function microversionHeaders(req: Request, res: Response, next: NextFunction) {
  res.setHeader('OpenStack-API-Version', `compute ${MAX_MICROVERSION}`);
  res.setHeader('X-OpenStack-Nova-API-Version', MAX_MICROVERSION);
  res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
  const requested = requestedVersion(req);
  if (requested && requested !== 'latest' && requested !== MAX_MICROVERSION && !isSupported(requested)) {
    res.status(406).json({
      computeFault: { code: 406, message: `Version ${requested} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${MAX_MICROVERSION}.` },
    });
    return;
  }
  next();
}

function requestedVersion(req: Request): string | undefined {
  const modern = req.get('openstack-api-version');
  if (modern) {
    const m = /(?:^|,)\s*compute\s+([0-9.]+|latest)\s*(?:,|$)/i.exec(modern);
    if (m) return m[1]!.toLowerCase();
  }
  return req.get('x-openstack-nova-api-version')?.trim().toLowerCase();
}

function parse(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function isSupported(v: string): boolean {
  const p = parse(v);
  const lo = parse(MIN_MICROVERSION)!;
  const hi = parse(MAX_MICROVERSION)!;
  if (!p) return false;
  const n = p[0] * 1000 + p[1];
  return n >= lo[0] * 1000 + lo[1] && n <= hi[0] * 1000 + hi[1];
}
