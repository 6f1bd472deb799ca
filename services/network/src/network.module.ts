import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { FloatingIpsController, NetworksController, PortsController, QuotasController, RoutersController, SecurityGroupRulesController, SecurityGroupsController, SubnetPoolsController, SubnetsController } from './api/controllers.js';
import { Core } from './db/core.js';
import { Db } from './db/db.js';
import { EventRelay } from './events/event-relay.js';
import { FloatingIpsService } from './floatingips/floatingips.service.js';
import { InfoController } from './info/info.controller.js';
import { NetworksService } from './networks/networks.service.js';
import { PortsService } from './ports/ports.service.js';
import { QuotasService } from './quotas/quotas.service.js';
import { RoutersService } from './routers/routers.service.js';
import { NetworkRpcController } from './rpc/network.rpc.controller.js';
import { SecurityGroupsService } from './security-groups/security-groups.service.js';
import { SubnetPoolsService } from './subnetpools/subnetpools.service.js';
import { SubnetsService } from './subnets/subnets.service.js';

/** Neutron accepts a `.json` suffix on every resource path (`/v2.0/quotas/{id}/details.json`; Tempest uses it). */
function jsonSuffix(req: Request, _res: Response, next: NextFunction) {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path.endsWith('.json')) req.url = path.slice(0, -5) + (q < 0 ? '' : req.url.slice(q));
  next();
}

@Module({
  controllers: [
    InfoController, NetworksController, SubnetsController, PortsController, RoutersController, FloatingIpsController, SecurityGroupsController, SecurityGroupRulesController, QuotasController, SubnetPoolsController,
    NetworkRpcController,
  ],
  providers: [Db, Core, EventRelay, NetworksService, SubnetsService, PortsService, SecurityGroupsService, RoutersService, FloatingIpsService, QuotasService, SubnetPoolsService],
})
export class NetworkModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(jsonSuffix).forRoutes({ path: '*path', method: RequestMethod.ALL });
  }
}
