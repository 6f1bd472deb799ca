import { Controller, Get, Req } from '@nestjs/common';
import { Public, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';

/** The CLI never discovers Neutron (it appends /v2.0); Tempest's NetworksApiDiscovery does GET /. */
@Public()
@Controller()
export class VersionsController {
  @Get()
  root(@Req() req: Request) {
    return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${requestBaseUrl(req)}/v2.0/` }] }] };
  }
}
