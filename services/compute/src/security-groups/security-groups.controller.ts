import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import { SecurityGroupsService } from './security-groups.service.js';

/** Nova's os-security-groups proxy API: the groups live in the network service. */
@Controller('v2.1/os-security-groups')
export class SecurityGroupsController {
  constructor(private readonly groups: SecurityGroupsService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>) {
    return { security_groups: await this.groups.list(auth, q) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown) {
    return { security_group: await this.groups.create(auth, body) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { security_group: await this.groups.show(auth, id) };
  }

  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    return { security_group: await this.groups.update(auth, id, body) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.groups.remove(auth, id);
  }
}

@Controller('v2.1/os-security-group-rules')
export class SecurityGroupRulesController {
  constructor(private readonly groups: SecurityGroupsService) {}

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown) {
    return { security_group_rule: await this.groups.createRule(auth, body) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.groups.removeRule(auth, id);
  }
}
