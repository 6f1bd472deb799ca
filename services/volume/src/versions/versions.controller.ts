import { Controller, Get, HttpCode, Req } from '@nestjs/common';
import { Public, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';

export const MAX_VOLUME_MICROVERSION = '3.0';

function v3(base: string) {
  return {
    id: 'v3.0',
    status: 'CURRENT',
    version: MAX_VOLUME_MICROVERSION,
    min_version: '3.0',
    updated: '2023-08-31T00:00:00Z',
    links: [{ rel: 'self', href: `${base}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
  };
}

/** Cinder discovery: `GET /` (300) and `GET /v3/` (the SDK strips the project id from the catalog URL). */
@Public()
@Controller()
export class VersionsController {
  @Get()
  @HttpCode(300)
  root(@Req() req: Request) {
    return { versions: [v3(requestBaseUrl(req))] };
  }

  @Get('v3')
  v3(@Req() req: Request) {
    return { versions: [v3(requestBaseUrl(req))] };
  }
}
