import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import { FloatingIpsService } from './floating-ips.service.js';

/**
 * Nova's os-floating-ips proxy API (2.1–2.35; the microversion middleware answers 404 from 2.36):
 * the floating IPs live in the network service.
 */
@Controller('v2.1/os-floating-ips')
export class FloatingIpsController {
  constructor(private readonly fips: FloatingIpsService) {}

  @Get()
  async list(@Auth() auth: AuthContext) {
    return { floating_ips: await this.fips.list(auth) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown) {
    return { floating_ip: await this.fips.create(auth, body) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { floating_ip: await this.fips.show(auth, id) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.fips.remove(auth, id);
  }
}

/** Nova's os-floating-ip-pools (2.1–2.35): the external networks. */
@Controller('v2.1/os-floating-ip-pools')
export class FloatingIpPoolsController {
  constructor(private readonly fips: FloatingIpsService) {}

  @Get()
  async list(@Auth() auth: AuthContext) {
    return { floating_ip_pools: await this.fips.pools(auth) };
  }
}
