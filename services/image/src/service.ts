import type { ServiceDefinition } from '@kumo/service-kit';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const imageService: ServiceDefinition = {
  name: 'image',
  family: 'glance',
  version: VERSION,
  port: { variable: 'KUMO_IMAGE_PORT', default: 9292 },
  database: { schema: 'image', entities: [], migrations: [] },
  modules: () => [VersionsModule],
};
