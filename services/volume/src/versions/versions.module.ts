import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { volumeMicroversion } from './microversion.js';
import { VersionsController } from './versions.controller.js';

@Module({ controllers: [VersionsController] })
export class VersionsModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(volumeMicroversion).forRoutes('v3/{*path}');
  }
}
