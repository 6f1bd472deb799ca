import { Body, Controller, Get, Param, Put, Query } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import { OsHostsService } from './os-hosts.service.js';

/** Nova's os-hosts, 2.1–2.42 (404 from 2.43 in the negotiation middleware). */
@Controller('v2.1/os-hosts')
export class OsHostsController {
  constructor(private readonly hosts: OsHostsService) {}

  @Get()
  list(@Auth() auth: AuthContext, @Query('zone') zone: unknown) {
    return this.hosts.list(auth, zone);
  }

  @Get(':host')
  show(@Auth() auth: AuthContext, @Param('host') host: string) {
    return this.hosts.show(auth, host);
  }

  @Put(':host')
  update(@Auth() auth: AuthContext, @Param('host') host: string, @Body() body: unknown) {
    return this.hosts.update(auth, host, body);
  }

  @Get(':host/startup')
  startup(@Auth() auth: AuthContext, @Param('host') host: string) {
    return this.hosts.powerAction(auth, host, 'startup');
  }

  @Get(':host/shutdown')
  shutdown(@Auth() auth: AuthContext, @Param('host') host: string) {
    return this.hosts.powerAction(auth, host, 'shutdown');
  }

  @Get(':host/reboot')
  reboot(@Auth() auth: AuthContext, @Param('host') host: string) {
    return this.hosts.powerAction(auth, host, 'reboot');
  }
}
