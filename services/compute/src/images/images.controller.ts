import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req } from '@nestjs/common';
import { Auth, type AuthContext, requestBaseUrl } from '@kumo/service-kit';
import type { Request } from 'express';
import { ImagesProxyService } from './images.service.js';

/**
 * Nova's image proxy (2.1–2.35) and image-metadata proxy (2.1–2.38). The microversion middleware
 * answers 404 above those versions; everything else is the image service's, reached with the
 * caller's token (ImagesProxyService).
 */
@Controller('v2.1/images')
export class ImagesController {
  constructor(private readonly images: ImagesProxyService) {}

  @Get()
  list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    return this.images.list(auth, q, requestBaseUrl(req), false);
  }

  @Get('detail')
  detail(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    return this.images.list(auth, q, requestBaseUrl(req), true);
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request) {
    return { image: await this.images.show(auth, id, requestBaseUrl(req)) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.images.delete(auth, id);
  }

  @Get(':id/metadata')
  async metadata(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { metadata: await this.images.metadata(auth, id) };
  }

  @Post(':id/metadata')
  @HttpCode(200)
  async mergeMetadata(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    return { metadata: await this.images.mergeMetadata(auth, id, body) };
  }

  @Put(':id/metadata')
  async replaceMetadata(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    return { metadata: await this.images.replaceMetadata(auth, id, body) };
  }

  @Get(':id/metadata/:key')
  async metadataItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string) {
    return { meta: await this.images.metadataItem(auth, id, key) };
  }

  @Put(':id/metadata/:key')
  async setMetadataItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string, @Body() body: unknown) {
    return { meta: await this.images.setMetadataItem(auth, id, key, body) };
  }

  @Delete(':id/metadata/:key')
  @HttpCode(204)
  async deleteMetadataItem(@Auth() auth: AuthContext, @Param('id') id: string, @Param('key') key: string) {
    await this.images.deleteMetadataItem(auth, id, key);
  }
}
