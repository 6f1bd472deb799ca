import { Controller, Get, Param } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, PolicyService } from '@kumo/service-kit';
import { EXTENSIONS } from './extension-list.js';

function view([alias, name, description]: (typeof EXTENSIONS)[number]) {
  return { alias, name, description, links: [], namespace: 'http://docs.openstack.org/compute/ext/fake_xml', updated: '2014-12-03T00:00:00Z' };
}

/** GET /v2.1/extensions and /extensions/{alias} (every microversion; policy `os_compute_api:extensions`, anyone). */
@Controller('v2.1/extensions')
export class ExtensionsController {
  constructor(private readonly policy: PolicyService) {}

  @Get()
  list(@Auth() auth: AuthContext) {
    this.policy.enforce('os_compute_api:extensions', auth, {});
    return { extensions: EXTENSIONS.map(view) };
  }

  @Get(':alias')
  show(@Auth() auth: AuthContext, @Param('alias') alias: string) {
    this.policy.enforce('os_compute_api:extensions', auth, {});
    const ext = EXTENSIONS.find((e) => e[0] === alias);
    if (!ext) throw ApiError.notFound('The resource could not be found.');
    return { extension: view(ext) };
  }
}
