import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext } from '@kumo/service-kit';
import type { Request } from 'express';
import { checkUrlProject } from '../volumes/volumes.controller.js';
import { parseMetadata, wrapped } from '../volumes/volume.model.js';
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

  @Get(':id/metadata')
  async metadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string) {
    checkUrlProject(auth, p);
    return { metadata: (await this.snapshots.show(auth, id)).metadata };
  }

  @Post(':id/metadata')
  @HttpCode(200)
  async mergeMetadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    const add = parseMetadata((body as { metadata?: unknown } | null)?.metadata ?? null);
    return { metadata: await this.snapshots.changeMetadata(auth, id, (cur) => ({ ...cur, ...add })) };
  }

  @Put(':id/metadata')
  async replaceMetadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    const next = parseMetadata((body as { metadata?: unknown } | null)?.metadata ?? null);
    return { metadata: await this.snapshots.changeMetadata(auth, id, () => next) };
  }

  @Get(':id/metadata/:key')
  async metadataItem(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Param('key') key: string) {
    checkUrlProject(auth, p);
    const m = (await this.snapshots.show(auth, id)).metadata;
    if (!(key in m)) throw ApiError.notFound(`Snapshot ${id} has no metadata with key ${key}.`);
    return { meta: { [key]: m[key] } };
  }

  @Put(':id/metadata/:key')
  async setMetadataItem(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Param('key') key: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    const meta = parseMetadata((body as { meta?: unknown } | null)?.meta ?? null);
    // Cinder: exactly the one key named in the URL.
    if (Object.keys(meta).length !== 1 || !(key in meta)) throw ApiError.badRequest('Malformed request body: meta must hold exactly the key named in the URL.');
    await this.snapshots.changeMetadata(auth, id, (cur) => ({ ...cur, ...meta }));
    return { meta };
  }

  @Delete(':id/metadata/:key')
  @HttpCode(200)
  async deleteMetadataItem(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Param('key') key: string) {
    checkUrlProject(auth, p);
    await this.snapshots.changeMetadata(auth, id, (cur) => {
      if (!(key in cur)) throw ApiError.notFound(`Snapshot ${id} has no metadata with key ${key}.`);
      const { [key]: _gone, ...rest } = cur;
      return rest;
    });
  }

  @Delete(':id')
  @HttpCode(202)
  async delete(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string) {
    checkUrlProject(auth, p);
    await this.snapshots.delete(auth, id);
  }
}
