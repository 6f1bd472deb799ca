import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import type { Request } from 'express';
import { checkUrlProject } from '../volumes/volumes.controller.js';
import { wrapped } from '../volumes/volume.model.js';
import { renderSnapshot, SnapshotsService } from './snapshots.service.js';

/** Cinder's `/snapshots` (3.0): list, detail, create (202), show, delete (202). */
@Controller('v3/:project_id/snapshots')
export class SnapshotsController {
  constructor(private readonly snapshots: SnapshotsService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    return { snapshots: (await this.snapshots.list(auth, req.query)).map((s) => renderSnapshot(s)) };
  }

  @Get('detail')
  async detail(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    return { snapshots: (await this.snapshots.list(auth, req.query)).map((s) => renderSnapshot(s, true)) };
  }

  @Post()
  @HttpCode(202)
  async create(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { snapshot: renderSnapshot(await this.snapshots.create(auth, wrapped(body, 'snapshot'), (req as { id?: string }).id)) };
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string) {
    checkUrlProject(auth, p);
    return { snapshot: renderSnapshot(await this.snapshots.show(auth, id), true) };
  }

  @Put(':id')
  async update(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { snapshot: renderSnapshot(await this.snapshots.update(auth, id, wrapped(body, 'snapshot'))) };
  }

  @Delete(':id')
  @HttpCode(202)
  async delete(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string) {
    checkUrlProject(auth, p);
    await this.snapshots.delete(auth, id);
  }
}
