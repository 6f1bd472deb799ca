import { Controller, Delete, Get, Param, Post, Put } from '@nestjs/common';
import { ApiError, Auth, type AuthContext } from '@kumo/service-kit';
import { NetworksService } from './networks.service.js';

/**
 * What Nova answers for the nova-network parts it removed (Rocky/Ussuri): 410 at every version up
 * to 2.35 (from 2.36 the negotiation middleware answers 404 first), without a policy check.
 */
function gone(): never {
  throw new ApiError(410, 'This resource is no longer available.  No forwarding address is given.');
}

/** Nova's os-networks proxy (2.1–2.35): list/show from the network service; the rest was nova-network's. */
@Controller('v2.1/os-networks')
export class NetworksController {
  constructor(private readonly networks: NetworksService) {}

  @Get()
  list(@Auth() auth: AuthContext) {
    return this.networks.list(auth);
  }

  @Get(':id')
  show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return this.networks.show(auth, id);
  }

  @Post()
  create(@Auth() _auth: AuthContext) {
    gone();
  }

  @Post('add')
  add(@Auth() _auth: AuthContext) {
    gone();
  }

  /** disassociate, disassociate_host, disassociate_project, associate_host. */
  @Post(':id/action')
  action(@Auth() _auth: AuthContext) {
    gone();
  }

  @Delete(':id')
  remove(@Auth() _auth: AuthContext) {
    gone();
  }
}

/** Nova's os-tenant-networks proxy (2.1–2.35). */
@Controller('v2.1/os-tenant-networks')
export class TenantNetworksController {
  constructor(private readonly networks: NetworksService) {}

  @Get()
  list(@Auth() auth: AuthContext) {
    return this.networks.listTenant(auth);
  }

  @Get(':id')
  show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return this.networks.showTenant(auth, id);
  }

  @Post()
  create(@Auth() _auth: AuthContext) {
    gone();
  }

  @Delete(':id')
  remove(@Auth() _auth: AuthContext) {
    gone();
  }
}

/**
 * os-floating-ips-bulk managed nova-network's address pools; with Neutron the pools are external
 * networks (os-floating-ip-pools). Nova answers 410 since Rocky; 404 from 2.36.
 */
@Controller('v2.1/os-floating-ips-bulk')
export class FloatingIpsBulkController {
  @Get()
  list(@Auth() _auth: AuthContext) {
    gone();
  }

  @Post()
  create(@Auth() _auth: AuthContext) {
    gone();
  }

  @Get(':id')
  show(@Auth() _auth: AuthContext) {
    gone();
  }

  @Put(':id')
  update(@Auth() _auth: AuthContext) {
    gone();
  }
}
