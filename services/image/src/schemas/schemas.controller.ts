import { Controller, Get, Req } from '@nestjs/common';
import { ApiError, Auth, type AuthContext } from '@kumo/service-kit';
import type { Request } from 'express';
import { SCHEMAS } from './schemas.js';

/** `GET /v2/schemas/{image,images,member,members,metadefs/...}`; Glance requires a token here too. */
@Controller('v2/schemas')
export class SchemasController {
  @Get('*path')
  show(@Auth() _auth: AuthContext, @Req() req: Request) {
    const key = req.path.replace(/^\/v2\/schemas\//, '').replace(/\/+$/, '');
    const schema = SCHEMAS[key];
    if (!schema) throw ApiError.notFound(`No schema named ${key} (known: ${Object.keys(SCHEMAS).join(', ')}).`);
    return schema;
  }
}
