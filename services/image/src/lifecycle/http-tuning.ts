import type { Server } from 'node:http';
import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/**
 * Node's HTTP server ends any request that takes longer than 300 s in total (requestTimeout),
 * which would cut a multi-GiB upload on a slow link. Uploads have their own idle timeout
 * (KUMO_IMAGE_UPLOAD_IDLE_TIMEOUT_S) instead; headers must still arrive within 60 s.
 */
@Injectable()
export class HttpTuning implements OnApplicationBootstrap {
  constructor(private readonly adapter: HttpAdapterHost) {}

  onApplicationBootstrap() {
    const server = this.adapter.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return;
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
  }
}
