import { Controller, Get, HttpCode, Req } from '@nestjs/common';
import { Public, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';

/** Keystone v3 version discovery (openstack-api.md §2.4); unauthenticated. */
export function v3Version(base: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${base}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

@Public()
@Controller()
export class VersionsController {
  /** keystoneauth follows the v3 entry's self link when OS_AUTH_URL has no version. */
  @Get()
  @HttpCode(300)
  root(@Req() req: Request) {
    return { versions: { values: [v3Version(requestBaseUrl(req))] } };
  }

  @Get('v3')
  v3(@Req() req: Request) {
    return { version: v3Version(requestBaseUrl(req)) };
  }
}
