import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { FloatingIpsService } from '../floatingips/floatingips.service.js';
import { NetworksService } from '../networks/networks.service.js';
import { PortsService } from '../ports/ports.service.js';
import { QuotasService } from '../quotas/quotas.service.js';
import { RoutersService } from '../routers/routers.service.js';
import { SecurityGroupsService } from '../security-groups/security-groups.service.js';
import { SubnetPoolsService } from '../subnetpools/subnetpools.service.js';
import { SubnetsService } from '../subnets/subnets.service.js';
import { callerOf, unwrap } from './common.js';
import { queryOf } from './list.js';
import { createBody, listBody, showBody, updateOf } from './resource.js';

/*
 * The Neutron v2.0 REST surface. Controllers only parse and shape: validation, policy and SQL
 * live in the services. Creates answer 201, updates 200, deletes 204 (Tempest checks exactly).
 */

@Controller('v2.0/networks')
export class NetworksController {
  constructor(private readonly svc: NetworksService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('networks', this.svc.list(callerOf(a, req)), req);
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('network', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('network', 'networks', body, (items) => this.svc.create(callerOf(a, req), items));
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { network: await this.svc.update(callerOf(a, req), id, updateOf(body, 'network')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}

@Controller('v2.0/subnets')
export class SubnetsController {
  constructor(private readonly svc: SubnetsService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('subnets', this.svc.list(callerOf(a, req)), req);
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('subnet', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('subnet', 'subnets', body, (items) => this.svc.create(callerOf(a, req), items));
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { subnet: await this.svc.update(callerOf(a, req), id, updateOf(body, 'subnet')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}

const FAST_PORT_FILTERS = new Set(['device_id', 'network_id']);

@Controller('v2.0/ports')
export class PortsController {
  constructor(private readonly svc: PortsService) {}

  @Get()
  async list(@Auth() a: AuthContext, @Req() req: Request, @Res() res: Response) {
    const q = queryOf(req);
    const one = (k: string) => (q[k]?.length === 1 ? q[k][0] : undefined);
    const filters = { deviceId: one('device_id'), networkId: one('network_id') };
    // The forms agents, the CLI and the dashboard send all the time: served as cached bytes
    // (Nest would serialise a Buffer as JSON, so this handler writes its own response).
    if (Object.entries(q).every(([k, v]) => FAST_PORT_FILTERS.has(k) && v.length === 1)) {
      res.type('application/json').send(await this.svc.listJson(callerOf(a, req), filters));
      return;
    }
    res.json(await listBody('ports', this.svc.list(callerOf(a, req), filters), req));
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('port', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('port', 'ports', body, (items) => this.svc.create(callerOf(a, req), items));
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { port: await this.svc.update(callerOf(a, req), id, updateOf(body, 'port')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}

@Controller('v2.0/routers')
export class RoutersController {
  constructor(private readonly svc: RoutersService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('routers', this.svc.list(callerOf(a, req)), req);
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('router', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const { items, bulk } = unwrap(body, 'router', 'routers');
    const out = [];
    for (const item of items) out.push(await this.svc.create(callerOf(a, req), item));
    return bulk ? { routers: out } : { router: out[0] };
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { router: await this.svc.update(callerOf(a, req), id, updateOf(body, 'router')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }

  @Put(':id/add_router_interface')
  addInterface(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: Record<string, unknown>) {
    return this.svc.addInterface(callerOf(a, req), id, body);
  }

  @Put(':id/remove_router_interface')
  removeInterface(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: Record<string, unknown>) {
    return this.svc.removeInterface(callerOf(a, req), id, body);
  }
}

@Controller('v2.0/floatingips')
export class FloatingIpsController {
  constructor(private readonly svc: FloatingIpsService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('floatingips', this.svc.list(callerOf(a, req)), req);
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('floatingip', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    const { items, bulk } = unwrap(body, 'floatingip', 'floatingips');
    const out = [];
    for (const item of items) out.push(await this.svc.create(callerOf(a, req), item));
    return bulk ? { floatingips: out } : { floatingip: out[0] };
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { floatingip: await this.svc.update(callerOf(a, req), id, updateOf(body, 'floatingip')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}

@Controller('v2.0/security-groups')
export class SecurityGroupsController {
  constructor(private readonly svc: SecurityGroupsService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('security_groups', this.svc.list(callerOf(a, req)), req, 'security-groups');
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('security_group', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('security_group', 'security_groups', body, (items) => this.svc.create(callerOf(a, req), items));
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { security_group: await this.svc.update(callerOf(a, req), id, updateOf(body, 'security_group')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}

@Controller('v2.0/security-group-rules')
export class SecurityGroupRulesController {
  constructor(private readonly svc: SecurityGroupsService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('security_group_rules', this.svc.listRules(callerOf(a, req)), req, 'security-group-rules');
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('security_group_rule', this.svc.showRule(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('security_group_rule', 'security_group_rules', body, (items) => this.svc.createRules(callerOf(a, req), items));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.deleteRule(callerOf(a, req), id);
  }
}

@Controller('v2.0/quotas')
export class QuotasController {
  constructor(private readonly svc: QuotasService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return this.svc.list(callerOf(a, req));
  }

  @Get(':project/default')
  defaults(@Auth() a: AuthContext, @Req() req: Request, @Param('project') project: string) {
    return this.svc.defaults(callerOf(a, req), project);
  }

  @Get(':project/details')
  details(@Auth() a: AuthContext, @Req() req: Request, @Param('project') project: string) {
    return this.svc.details(callerOf(a, req), project);
  }

  @Get(':project')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('project') project: string) {
    return this.svc.show(callerOf(a, req), project);
  }

  @Put(':project')
  update(@Auth() a: AuthContext, @Req() req: Request, @Param('project') project: string, @Body() body: unknown) {
    return this.svc.update(callerOf(a, req), project, body);
  }

  @Delete(':project')
  @HttpCode(204)
  async reset(@Auth() a: AuthContext, @Req() req: Request, @Param('project') project: string) {
    await this.svc.reset(callerOf(a, req), project);
  }
}

@Controller('v2.0/subnetpools')
export class SubnetPoolsController {
  constructor(private readonly svc: SubnetPoolsService) {}

  @Get()
  list(@Auth() a: AuthContext, @Req() req: Request) {
    return listBody('subnetpools', this.svc.list(callerOf(a, req)), req);
  }

  @Get(':id')
  show(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    return showBody('subnetpool', this.svc.show(callerOf(a, req), id), req);
  }

  @Post()
  @HttpCode(201)
  create(@Auth() a: AuthContext, @Req() req: Request, @Body() body: unknown) {
    return createBody('subnetpool', 'subnetpools', body, (items) => this.svc.create(callerOf(a, req), items));
  }

  @Put(':id')
  async update(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    return { subnetpool: await this.svc.update(callerOf(a, req), id, updateOf(body, 'subnetpool')) };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() a: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.svc.delete(callerOf(a, req), id);
  }
}
