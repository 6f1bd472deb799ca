import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { ApiError, Auth, type AuthContext } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import { renderImage } from './image.view.js';
import { ImagesService } from './images.service.js';
import { dialectOf } from './json-patch.js';
import { firstQuery, nextQuery } from './list-query.js';

export const requestIdOf = (req: Request): string | undefined => (req as { id?: string }).id;

/** Express's parsed query, as Glance sees it: every value a string or a list of strings. */
export function rawQuery(req: Request): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v)) out[k] = v.map(String);
    else if (v !== undefined) throw ApiError.badRequest(`Parameter ${k} is malformed.`);
  }
  return out;
}

/** JSON bodies only (Glance accepts a missing body on create). */
function requireJson(req: Request) {
  const length = Number(req.headers['content-length'] ?? 0);
  const chunked = /chunked/i.test(String(req.headers['transfer-encoding'] ?? ''));
  if (!length && !chunked) return;
  if (!req.is(['application/json', 'application/*+json'])) {
    throw new ApiError(415, `Unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? '(none)')}: send application/json.`);
  }
}

@Controller('v2/images')
export class ImagesController {
  constructor(private readonly images: ImagesService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Req() req: Request) {
    const raw = rawQuery(req);
    const { images, query } = await this.images.list(auth, raw);
    const first = firstQuery(raw);
    const body: Record<string, unknown> = { images: images.map(renderImage), first: `/v2/images${first ? `?${first}` : ''}`, schema: '/v2/schemas/images' };
    if (query.limit > 0 && images.length === query.limit) body.next = `/v2/images?${nextQuery(raw, images[images.length - 1]!.id)}`;
    return body;
  }

  @Post()
  @HttpCode(201)
  async create(@Auth() auth: AuthContext, @Req() req: Request, @Res({ passthrough: true }) res: Response, @Body() body: unknown) {
    requireJson(req);
    const image = await this.images.create(auth, body, requestIdOf(req));
    res.setHeader('Location', `/v2/images/${image.id}`);
    return renderImage(image);
  }

  @Get(':id')
  async show(@Auth() auth: AuthContext, @Param('id') id: string) {
    return renderImage(await this.images.show(auth, id));
  }

  @Patch(':id')
  async update(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string, @Body() body: unknown) {
    const dialect = dialectOf(req.headers['content-type']);
    return renderImage(await this.images.update(auth, id, dialect, body));
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Auth() auth: AuthContext, @Req() req: Request, @Param('id') id: string) {
    await this.images.delete(auth, id, requestIdOf(req));
  }

  @Put(':id/tags/:tag')
  @HttpCode(204)
  async addTag(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    await this.images.addTag(auth, id, tag);
  }

  @Delete(':id/tags/:tag')
  @HttpCode(204)
  async deleteTag(@Auth() auth: AuthContext, @Param('id') id: string, @Param('tag') tag: string) {
    await this.images.deleteTag(auth, id, tag);
  }

  @Post(':id/actions/deactivate')
  @HttpCode(204)
  async deactivate(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.images.deactivate(auth, id);
  }

  @Post(':id/actions/reactivate')
  @HttpCode(204)
  async reactivate(@Auth() auth: AuthContext, @Param('id') id: string) {
    await this.images.reactivate(auth, id);
  }
}
