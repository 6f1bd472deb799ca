import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { microversionHeaders } from './microversion.js';
import { VersionsController } from './versions.controller.js';

@Module({ controllers: [VersionsController] })
export class VersionsModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(microversionHeaders).forRoutes('{*path}');
  }
}
