import type { Request } from 'express';

/**
 * The URL a client used to reach us (scheme://host[:port]), for discovery `self` links: clients
 * use that href as their base URL from then on, so it must be reachable from where they are,
 * which the Host header tells better than our bind address.
 */
export function requestBaseUrl(req: Request): string {
  const forwardedProto = req.get('x-forwarded-proto');
  const proto = forwardedProto ? forwardedProto.split(',')[0]!.trim() : req.protocol;
  const host = req.get('host') ?? `${req.socket.localAddress}:${req.socket.localPort}`;
  return `${proto}://${host}`;
}
