import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { ApiError, KUMO_CONFIG } from '@kumo/service-kit';
import type { NextFunction, Request, Response } from 'express';
import type { ImageConfig } from './config.js';
import { ImageDataController } from './data/image-data.controller.js';
import { HASHER, HashWorkers, InlineHasher } from './data/hashing.js';
import { ImageDataService } from './data/image-data.service.js';
import { Db } from './db/db.js';
import { ImageRepository } from './db/image.repository.js';
import { EVENT_KICKER } from './events/event-kicker.js';
import { EventRelay } from './events/event-relay.js';
import { ImagesController } from './images/images.controller.js';
import { ImagesService } from './images/images.service.js';
import { InfoController } from './info/info.controller.js';
import { Inspector } from './inspection/inspector.js';
import { HttpTuning } from './lifecycle/http-tuning.js';
import { Recovery } from './lifecycle/recovery.js';
import { MembersController } from './members/members.controller.js';
import { MembersService } from './members/members.service.js';
import { MetadefsController } from './metadefs/metadefs.controller.js';
import { MetadefsRepository } from './metadefs/metadefs.repository.js';
import { QuotaService } from './quota/quota.service.js';
import { ImageRpcController } from './rpc/image.rpc.controller.js';
import { SchemasController } from './schemas/schemas.controller.js';
import { IMAGE_STORE } from './store/image-store.js';
import { LocalFiles } from './store/local-files.js';
import { StagingArea } from './store/staging.js';
import { createStaging, createStore, inspectorOf } from './store/store.factory.js';

/** `GET|DELETE /v2/images/` (empty id): Glance answers 404, Express would route it to the list. */
function emptyImageId(req: Request, _res: Response, next: NextFunction) {
  if (/^\/v2\/images\/(\?|$)/.test(req.originalUrl)) return next(ApiError.notFound('No image found with ID (empty)'));
  next();
}

@Module({
  controllers: [ImagesController, ImageDataController, MembersController, SchemasController, InfoController, MetadefsController, ImageRpcController],
  providers: [
    Db,
    ImageRepository,
    MetadefsRepository,
    QuotaService,
    { provide: IMAGE_STORE, useFactory: (c: ImageConfig) => createStore(c), inject: [KUMO_CONFIG] },
    { provide: StagingArea, useFactory: (c: ImageConfig) => createStaging(c), inject: [KUMO_CONFIG] },
    { provide: Inspector, useFactory: (c: ImageConfig) => inspectorOf(c), inject: [KUMO_CONFIG] },
    { provide: LocalFiles, useValue: new LocalFiles() },
    { provide: HASHER, useFactory: (c: ImageConfig) => (c.KUMO_IMAGE_HASH_THREADS ? new HashWorkers() : new InlineHasher()), inject: [KUMO_CONFIG] },
    EventRelay,
    { provide: EVENT_KICKER, useExisting: EventRelay },
    ImagesService,
    ImageDataService,
    MembersService,
    Recovery,
    HttpTuning,
  ],
})
export class ImageModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(emptyImageId).forRoutes({ path: 'v2/images', method: RequestMethod.ALL });
  }
}
