import { Controller, Get, HttpCode, Req } from '@nestjs/common';
import { Public, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';

/** Glance has no microversions; clients only need a v2.x entry whose self link is the v2 base. */
const V2_MINORS = [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

function versionsOf(base: string) {
  return V2_MINORS.map((minor, i) => ({
    id: `v2.${minor}`,
    status: i === 0 ? 'CURRENT' : 'SUPPORTED',
    links: [{ rel: 'self', href: `${base}/v2/` }],
  }));
}

@Public()
@Controller()
export class VersionsController {
  @Get()
  @HttpCode(300)
  root(@Req() req: Request) {
    return { versions: versionsOf(requestBaseUrl(req)) };
  }

  @Get('versions')
  list(@Req() req: Request) {
    return { versions: versionsOf(requestBaseUrl(req)) };
  }
}
