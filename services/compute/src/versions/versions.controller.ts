import { Controller, Get, Req } from '@nestjs/common';
import { Public, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { MAX_MICROVERSION, MIN_MICROVERSION } from './microversion.js';

/**
 * Nova version discovery. The advertised `version` is a contract (openstack-api.md §0 rule 7):
 * openstacksdk then sends min(its own ceiling, this) on every call.
 */
function versionsOf(base: string) {
  return [
    {
      id: 'v2.0',
      status: 'SUPPORTED',
      version: '',
      min_version: '',
      updated: '2011-01-21T11:33:21Z',
      links: [{ rel: 'self', href: `${base}/v2/` }],
    },
    {
      id: 'v2.1',
      status: 'CURRENT',
      version: MAX_MICROVERSION,
      min_version: MIN_MICROVERSION,
      updated: '2013-07-23T11:33:21Z',
      links: [{ rel: 'self', href: `${base}/v2.1/` }],
    },
  ];
}

@Public()
@Controller()
export class VersionsController {
  @Get()
  root(@Req() req: Request) {
    return { versions: versionsOf(requestBaseUrl(req)) };
  }

  /** The legacy v2.0 document (clients and Tempest follow every `self` link of the list). */
  @Get('v2')
  v2(@Req() req: Request) {
    const v = versionsOf(requestBaseUrl(req))[0]!;
    return {
      version: {
        ...v,
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' }],
      },
    };
  }

  @Get('v2.1')
  v21(@Req() req: Request) {
    const v = versionsOf(requestBaseUrl(req))[1]!;
    return {
      version: {
        ...v,
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
      },
    };
  }
}
