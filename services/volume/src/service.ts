import type { ServiceDefinition } from '@kumo/service-kit';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const volumeService: ServiceDefinition = {
  name: 'volume',
  family: 'cinder',
  version: VERSION,
  port: { variable: 'KUMO_VOLUME_PORT', default: 8776 },
  database: { schema: 'volume', entities: [], migrations: [] },
  modules: () => [VersionsModule],
};
