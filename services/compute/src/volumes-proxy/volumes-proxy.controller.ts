import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { VolumesProxyService } from './volumes-proxy.service.js';

/**
 * Express matches `/os-volumes/` like `/os-volumes`; for Nova that is a show or delete with an
 * empty id, a 404 (Tempest's test_get_volume_without_passing_volume_id).
 */
function refuseEmptyId(req: Request): void {
  if (req.path.endsWith('/')) throw ApiError.notFound('The resource could not be found.');
}

/** Nova's os-volumes proxy (2.1–2.35; the microversion middleware answers 404 from 2.36). */
@Controller('v2.1/os-volumes')
export class VolumesProxyController {
  constructor(private readonly volumes: VolumesProxyService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: Request) {
    refuseEmptyId(req);
    return { volumes: await this.volumes.listVolumes(auth, false, query) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>) {
    return { volumes: await this.volumes.listVolumes(auth, true, query) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const volume = await this.volumes.createVolume(auth, body);
    res.setHeader('Location', `${req.protocol}://${req.get('host')}${req.originalUrl.split('?')[0]!.replace(/\/+$/, '')}/${volume.id}`);
    return { volume };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { volume: await this.volumes.showVolume(auth, id) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.volumes.deleteVolume(auth, id);
  }
}

/** Nova's os-snapshots proxy (volume snapshots, 2.1–2.35). */
@Controller('v2.1/os-snapshots')
export class SnapshotsProxyController {
  constructor(private readonly volumes: VolumesProxyService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>, @Req() req: Request) {
    refuseEmptyId(req);
    return { snapshots: await this.volumes.listSnapshots(auth, false, query) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Query() query: Record<string, unknown>) {
    return { snapshots: await this.volumes.listSnapshots(auth, true, query) };
  }

  @Post()
  @HttpCode(200)
  async create(@Auth() auth: AuthContext, @Body() body: unknown) {
    return { snapshot: await this.volumes.createSnapshot(auth, body) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { snapshot: await this.volumes.showSnapshot(auth, id) };
  }

  @Delete(':id')
  @HttpCode(202)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.volumes.deleteSnapshot(auth, id);
  }
}
