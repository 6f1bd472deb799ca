import { Module } from '@nestjs/common';
import { AggregatesController } from './aggregates/aggregates.controller.js';
import { AggregatesService } from './aggregates/aggregates.service.js';
import { AgentReportsController } from './conductor/agent-reports.controller.js';
import { AmqpImageClient, AmqpNetworkClient, AmqpVolumeClient } from './conductor/amqp-peers.js';
import { ConductorService } from './conductor/conductor.service.js';
import { NetworkEventsController } from './conductor/network-events.controller.js';
import { IMAGE_CLIENT, NETWORK_CLIENT, VOLUME_CLIENT } from './conductor/peers.js';
import { PortsRefresher } from './conductor/ports-refresher.js';
import { Reconciler } from './conductor/reconciler.js';
import { Db } from './db/db.js';
import { EventRelay } from './events/event-relay.js';
import { FlavorsController } from './flavors/flavors.controller.js';
import { FlavorsService } from './flavors/flavors.service.js';
import { HostsController } from './hosts/hosts.controller.js';
import { OsHostsController } from './hosts/os-hosts.controller.js';
import { OsHostsService } from './hosts/os-hosts.service.js';
import { ExtensionsController } from './extensions/extensions.controller.js';
import { FloatingIpsBulkController, NetworksController, TenantNetworksController } from './networks/networks.controller.js';
import { NetworksService } from './networks/networks.service.js';
import { AuditLogController } from './usage/audit-log.controller.js';
import { AuditLogService } from './usage/audit-log.service.js';
import { KeypairsController } from './keypairs/keypairs.controller.js';
import { QuotaClassesController } from './quotas/quota-classes.controller.js';
import { QuotasController } from './quotas/quotas.controller.js';
import { QuotaService } from './quotas/quota.service.js';
import { FloatingIpPoolsController, FloatingIpsController } from './floating-ips/floating-ips.controller.js';
import { FloatingIpsService } from './floating-ips/floating-ips.service.js';
import { NetworkApi } from './security-groups/network-api.js';
import { ImageApi } from './images/image-api.js';
import { ImagesController } from './images/images.controller.js';
import { ImagesProxyService } from './images/images.service.js';
import { SecurityGroupRulesController, SecurityGroupsController } from './security-groups/security-groups.controller.js';
import { SecurityGroupsService } from './security-groups/security-groups.service.js';
import { SchedulerService } from './scheduler/scheduler.service.js';
import { ServerGroupsController } from './server-groups/server-groups.controller.js';
import { InstancesRepository } from './servers/instances.repository.js';
import { ServersController } from './servers/servers.controller.js';
import { ServerTagsController } from './servers/tags.controller.js';
import { ServersService } from './servers/servers.service.js';
import { MovesService } from './servers/moves.service.js';
import { MigrationsController } from './migrations/migrations.controller.js';
import { InterfacesController } from './interfaces/interfaces.controller.js';
import { VolumeAttachmentsController } from './volume-attachments/volume-attachments.controller.js';
import { VolumeApi } from './volumes-proxy/volume-api.js';
import { SnapshotsProxyController, VolumesProxyController } from './volumes-proxy/volumes-proxy.controller.js';
import { VolumesProxyService } from './volumes-proxy/volumes-proxy.service.js';
import { ConsoleAuthController, ConsoleProxyController, ConsolesService } from './servers/consoles.service.js';
import { ServerActionsService } from './servers/server-actions.service.js';
import { UsageController } from './usage/usage.controller.js';
import { ExternalEventsController, ExternalEventsService } from './servers/external-events.js';

@Module({
  controllers: [
    FlavorsController,
    KeypairsController,
    QuotasController,
    QuotaClassesController,
    ServersController,
    ServerTagsController,
    HostsController,
    AggregatesController,
    ServerGroupsController,
    UsageController,
    AgentReportsController,
    NetworkEventsController,
    SecurityGroupsController,
    SecurityGroupRulesController,
    FloatingIpsController,
    ImagesController,
    FloatingIpPoolsController,
    MigrationsController,
    InterfacesController,
    VolumeAttachmentsController,
    VolumesProxyController,
    SnapshotsProxyController,
    ConsoleProxyController,
    ConsoleAuthController,
    OsHostsController,
    AuditLogController,
    NetworksController,
    TenantNetworksController,
    FloatingIpsBulkController,
    ExtensionsController,
    ExternalEventsController,
  ],
  providers: [
    Db,
    AggregatesService,
    EventRelay,
    FlavorsService,
    QuotaService,
    InstancesRepository,
    SchedulerService,
    ConductorService,
    Reconciler,
    PortsRefresher,
    ServersService,
    MovesService,
    NetworkApi,
    ImageApi,
    ImagesProxyService,
    VolumeApi,
    VolumesProxyService,
    SecurityGroupsService,
    FloatingIpsService,
    ServerActionsService,
    ConsolesService,
    OsHostsService,
    AuditLogService,
    NetworksService,
    ExternalEventsService,
    { provide: NETWORK_CLIENT, useClass: AmqpNetworkClient },
    { provide: IMAGE_CLIENT, useClass: AmqpImageClient },
    { provide: VOLUME_CLIENT, useClass: AmqpVolumeClient },
  ],
})
export class ComputeModule {}
