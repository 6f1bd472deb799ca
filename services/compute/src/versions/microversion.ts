import { ApiError } from '@kumo/service-kit';
import type { NextFunction, Request, Response } from 'express';

export const MIN_MICROVERSION = '2.1';
/**
 * Raise deliberately: every version up to this one must be implemented (openstack-api.md §2.5);
 * docs/compute.md lists what each one changes here.
 */
export const MAX_MICROVERSION = '2.59';

/** A microversion as one comparable number: 2.37 → 2037. */
export function versionNumber(v: string): number | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : undefined;
}

const MIN = versionNumber(MIN_MICROVERSION)!;
const MAX = versionNumber(MAX_MICROVERSION)!;

/** The negotiated version of a request (set by the middleware; 2.1 when the client asked for none). */
export function microversionOf(req: Request): number {
  return (req as Request & { kumoMicroversion?: number }).kumoMicroversion ?? MIN;
}

/** `atLeast(req, 26)` — is the request's microversion ≥ 2.26? */
export function atLeast(req: Request, minor: number): boolean {
  return microversionOf(req) >= 2000 + minor;
}

/** Refuses a request below `minor` the way Nova does for an API that does not exist yet at that version. */
export function requireVersion(req: Request, minor: number): void {
  if (!atLeast(req, minor)) throw ApiError.notFound('The resource could not be found.');
}

/** Refuses a request above `minor` the way Nova does for an API a later version removed. */
export function requireAtMost(req: Request, minor: number): void {
  if (atLeast(req, minor + 1)) throw ApiError.notFound('The resource could not be found.');
}

/**
 * Negotiates the compute microversion of every request (Nova: no header → the minimum,
 * `latest` → the maximum, outside [min, max] → 406), echoes it on the response (Tempest fails any
 * compute test without these headers) and stores it for the controllers (microversionOf).
 */
export function microversionHeaders(req: Request, res: Response, next: NextFunction) {
  const requested = requestedVersion(req);
  let n = MIN;
  if (requested === 'latest') n = MAX;
  else if (requested) {
    const v = versionNumber(requested);
    if (v === undefined || v < MIN || v > MAX) {
      res.setHeader('OpenStack-API-Version', `compute ${MIN_MICROVERSION}`);
      res.setHeader('X-OpenStack-Nova-API-Version', MIN_MICROVERSION);
      res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
      const status = v === undefined ? 400 : 406;
      res.status(status).json(
        v === undefined
          ? { badRequest: { code: 400, message: `Invalid API version request: ${requested}` } }
          : { computeFault: { code: 406, message: `Version ${requested} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${MAX_MICROVERSION}.` } },
      );
      return;
    }
    n = v;
  }
  (req as Request & { kumoMicroversion?: number }).kumoMicroversion = n;
  const text = `${Math.floor(n / 1000)}.${n % 1000}`;
  res.setHeader('OpenStack-API-Version', `compute ${text}`);
  res.setHeader('X-OpenStack-Nova-API-Version', text);
  res.setHeader('Vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
  // 2.36: Nova's proxies to other services (and fping) are gone: 404 whatever the method.
  const path = req.originalUrl.split('?')[0]!;
  // 2.43: os-hosts is gone (src/hosts/os-hosts.*); 2.44: os-virtual-interfaces
  // (400 with Neutron below, as Nova). The four nova-network actions are refused in the action switch.
  // Nova kept the image-metadata proxy until 2.38 (MAX_IMAGE_META_PROXY_API_VERSION), the rest of /images until 2.35.
  const proxyGone = IMAGE_METADATA.test(path) ? n >= 2039 : n >= 2036 && PROXY_APIS.test(path);
  if (proxyGone || (n >= 2043 && OS_HOSTS.test(path)) || (n >= 2044 && VIRTUAL_INTERFACES.test(path))) {
    res.status(404).json({ itemNotFound: { code: 404, message: 'The resource could not be found.' } });
    return;
  }
  next();
}

/** The APIs 2.36 removed (server sub-resources such as /servers/{id}/os-security-groups stay). */
const PROXY_APIS =
  /^\/v2\.1\/(images|os-networks|os-tenant-networks|os-fixed-ips|os-floating-ips|os-floating-ips-bulk|os-floating-ip-pools|os-floating-ip-dns|os-security-groups|os-security-group-rules|os-security-group-default-rules|os-volumes|os-snapshots|os-baremetal-nodes|os-fping)(\/|$)/;

const IMAGE_METADATA = /^\/v2\.1\/images\/[^/]+\/metadata(\/|$)/;
const OS_HOSTS = /^\/v2\.1\/os-hosts(\/|$)/;
const VIRTUAL_INTERFACES = /^\/v2\.1\/servers\/[^/]+\/os-virtual-interfaces\/?$/;

function requestedVersion(req: Request): string | undefined {
  const modern = req.get('openstack-api-version');
  if (modern) {
    const m = /(?:^|,)\s*compute\s+([^\s,]+)\s*(?:,|$)/i.exec(modern);
    if (m) return m[1]!.toLowerCase();
  }
  return req.get('x-openstack-nova-api-version')?.trim().toLowerCase() || undefined;
}
