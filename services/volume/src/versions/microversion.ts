import type { NextFunction, Request, Response } from 'express';
import { MAX_VOLUME_MICROVERSION } from './versions.controller.js';

const MIN_VOLUME_MICROVERSION = '3.0';

function versionNumber(v: string): number | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : undefined;
}

const MIN = versionNumber(MIN_VOLUME_MICROVERSION)!;
const MAX = versionNumber(MAX_VOLUME_MICROVERSION)!;

/**
 * Cinder's microversion negotiation on every /v3 request: no header → 3.0, `latest` → the maximum,
 * outside [min, max] → 406, a malformed one → 400. The negotiated version is echoed in
 * `OpenStack-API-Version: volume X` (Tempest's volume client refuses any response without it —
 * also the ones compute's boot-from-volume tests make).
 */
export function volumeMicroversion(req: Request, res: Response, next: NextFunction) {
  const header = req.get('openstack-api-version');
  const asked = header ? /(?:^|,)\s*volume\s+([^\s,]+)\s*(?:,|$)/i.exec(header)?.[1] : undefined;
  let n = MIN;
  if (asked === 'latest') n = MAX;
  else if (asked) {
    const v = versionNumber(asked);
    if (v === undefined || v < MIN || v > MAX) {
      res.setHeader('OpenStack-API-Version', `volume ${MIN_VOLUME_MICROVERSION}`);
      res.setHeader('Vary', 'OpenStack-API-Version');
      if (v === undefined) res.status(400).json({ badRequest: { code: 400, message: `API Version String ${asked} is of invalid format. Must be of format MajorNum.MinorNum.` } });
      else res.status(406).json({ computeFault: { code: 406, message: `Version ${asked} is not supported by the API. Minimum is ${MIN_VOLUME_MICROVERSION} and maximum is ${MAX_VOLUME_MICROVERSION}.` } });
      return;
    }
    n = v;
  }
  res.setHeader('OpenStack-API-Version', `volume ${Math.floor(n / 1000)}.${n % 1000}`);
  res.setHeader('Vary', 'OpenStack-API-Version');
  next();
}
