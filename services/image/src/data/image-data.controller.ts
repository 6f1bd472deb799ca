import { Body, Controller, Get, HttpCode, Inject, Logger, Param, Post, Put, Req, Res } from '@nestjs/common';
import { Auth, type AuthContext, KUMO_CONFIG } from '@kumo/service-kit';
import type { Request, Response } from 'express';
import type { ImageConfig } from '../config.js';
import type { ImageTask } from '../db/image.repository.js';
import { isoTime } from '../images/image.view.js';
import { requestIdOf } from '../images/images.controller.js';
import { ImageDataService } from './image-data.service.js';
import { declaredLength, requestBody, requireOctetStream, settleBeforeError } from './request-body.js';

function renderTask(t: ImageTask) {
  return {
    id: t.id,
    image_id: t.imageId,
    type: t.type,
    status: t.status,
    owner: t.owner,
    user_id: t.userId,
    request_id: t.requestId,
    input: t.input,
    result: t.result,
    message: t.message,
    created_at: isoTime(t.createdAt),
    updated_at: isoTime(t.updatedAt),
    expires_at: t.expiresAt ? isoTime(t.expiresAt) : null,
  };
}

/** Image data over HTTP: streamed in (never buffered) and streamed out. */
@Controller('v2/images')
export class ImageDataController {
  private readonly log = new Logger('image-data');

  constructor(
    private readonly data: ImageDataService,
    @Inject(KUMO_CONFIG) private readonly config: ImageConfig,
  ) {}

  @Put(':id/file')
  async upload(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    try {
      requireOctetStream(req);
      const length = declaredLength(req);
      await this.data.upload(auth, id, requestBody(req, this.config.KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S * 1000), length, requestIdOf(req));
      res.status(204).end();
    } catch (err) {
      await settleBeforeError(req, res);
      throw err;
    }
  }

  @Put(':id/stage')
  async stage(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    try {
      requireOctetStream(req);
      const length = declaredLength(req);
      await this.data.stage(auth, id, requestBody(req, this.config.KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S * 1000), length);
      res.status(204).end();
    } catch (err) {
      await settleBeforeError(req, res);
      throw err;
    }
  }

  @Post(':id/import')
  @HttpCode(202)
  async import(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request, @Body() body: unknown) {
    await this.data.import(auth, id, body, requestIdOf(req));
  }

  @Get(':id/tasks')
  async tasks(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { tasks: (await this.data.tasks(auth, id)).map(renderTask) };
  }

  @Get(':id/file')
  async download(@Auth() auth: AuthContext, @Param('id') id: string, @Req() req: Request, @Res() res: Response) {
    const d = await this.data.download(auth, id, req.headers.range);
    if (d.kind === 'empty') {
      res.status(204).end();
      return;
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Accept-Ranges', 'bytes');
    if (d.range) {
      res.status(206);
      res.setHeader('Content-Range', `bytes ${d.range.start}-${d.range.end}/${d.size}`);
      res.setHeader('Content-Length', String(d.range.end - d.range.start + 1));
    } else {
      res.status(200);
      res.setHeader('Content-Length', String(d.size));
      // Glance sends the hex md5 (not RFC 1864's base64); clients compare it with `checksum`.
      if (d.checksum) res.setHeader('Content-MD5', d.checksum);
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      await d.writeTo(res);
    } catch (err) {
      // Nothing sent yet (the data could not even be opened): answer with an error body.
      if (!res.headersSent) throw err;
      // Headers are gone: the client sees a short body, which its Content-Length check catches.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') this.log.warn(`download of image ${id} ended early: ${(err as Error).message}`);
      res.destroy();
    }
  }
}
