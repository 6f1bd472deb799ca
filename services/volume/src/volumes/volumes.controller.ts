import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext, requestBaseUrl } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { DEFAULT_TYPE, renderVolume, renderVolumeSummary, wrapped } from './volume.model.js';
import { VolumesService } from './volumes.service.js';

const requestIdOf = (req: Request): string | undefined => (req as { id?: string }).id;

/**
 * The project in the URL must be the token's project (Cinder's "Malformed request url"): a
 * volume is always created in, and looked up from, the token's scope; an admin may name another.
 */
export function checkUrlProject(auth: AuthContext, projectId: string): void {
  if (auth.projectId !== projectId && !auth.roles.includes('admin')) throw ApiError.badRequest('Malformed request url');
}

@Controller('v3/:project_id')
export class VolumesController {
  constructor(private readonly volumes: VolumesService) {}

  @Get('volumes')
  async list(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    const base = requestBaseUrl(req);
    return { volumes: (await this.volumes.list(auth, req.query)).map((v) => renderVolumeSummary(v, base)) };
  }

  @Get('volumes/detail')
  async detail(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    const base = requestBaseUrl(req);
    return { volumes: (await this.volumes.list(auth, req.query)).map((v) => renderVolume(v, base, { extended: true, admin: auth.roles.includes('admin') })) };
  }

  @Post('volumes')
  @HttpCode(202)
  async create(@Auth() auth: AuthContext, @Param('project_id') p: string, @Req() req: Request, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { volume: renderVolume(await this.volumes.create(auth, wrapped(body, 'volume'), requestIdOf(req)), requestBaseUrl(req)) };
  }

  @Get('volumes/:id')
  async show(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    return { volume: renderVolume(await this.volumes.show(auth, id), requestBaseUrl(req), { extended: true, admin: auth.roles.includes('admin') }) };
  }

  @Put('volumes/:id')
  async update(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Req() req: Request, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { volume: renderVolume(await this.volumes.update(auth, id, wrapped(body, 'volume')), requestBaseUrl(req)) };
  }

  @Delete('volumes/:id')
  @HttpCode(202)
  async delete(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Req() req: Request) {
    checkUrlProject(auth, p);
    await this.volumes.delete(auth, id, requestIdOf(req));
  }

  @Get('volumes/:id/metadata')
  async metadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string) {
    checkUrlProject(auth, p);
    return { metadata: (await this.volumes.show(auth, id)).metadata };
  }

  @Post('volumes/:id/metadata')
  async addMetadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { metadata: await this.volumes.setMetadata(auth, id, (body as { metadata?: unknown } | null)?.metadata ?? null, false) };
  }

  @Put('volumes/:id/metadata')
  async replaceMetadata(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Body() body: unknown) {
    checkUrlProject(auth, p);
    return { metadata: await this.volumes.setMetadata(auth, id, (body as { metadata?: unknown } | null)?.metadata ?? null, true) };
  }

  /** Volume actions. Only what a file backend can honour; the attach actions go through compute (os-volume_attachments). */
  @Post('volumes/:id/action')
  async action(@Auth() auth: AuthContext, @Param('project_id') p: string, @Param('id') id: string, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    checkUrlProject(auth, p);
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    if ('os-extend' in b) {
      const a = b['os-extend'] as { new_size?: unknown } | null;
      await this.volumes.extend(auth, id, a?.new_size);
      res.status(202);
      return;
    }
    if ('os-set_bootable' in b) {
      const a = b['os-set_bootable'] as { bootable?: unknown } | null;
      await this.volumes.setBootable(auth, id, a?.bootable);
      res.status(200);
      return;
    }
    // Look the volume up first: an unknown action on an invisible volume is still a 404.
    await this.volumes.show(auth, id);
    throw ApiError.badRequest(`There is no such action: ${Object.keys(b).join(', ') || '(none)'}`);
  }

  @Get('types')
  types(@Param('project_id') p: string, @Auth() auth: AuthContext) {
    checkUrlProject(auth, p);
    return { volume_types: [DEFAULT_TYPE] };
  }

  @Get('types/:id')
  type(@Param('project_id') p: string, @Param('id') id: string, @Auth() auth: AuthContext) {
    checkUrlProject(auth, p);
    if (id !== 'default' && id !== DEFAULT_TYPE.id) throw ApiError.notFound(`Volume type ${id} could not be found.`);
    return { volume_type: DEFAULT_TYPE };
  }

  @Get('os-availability-zone')
  zones(@Param('project_id') p: string, @Auth() auth: AuthContext) {
    checkUrlProject(auth, p);
    return { availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true } }] };
  }
}
