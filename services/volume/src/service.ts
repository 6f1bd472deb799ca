import type { ServiceDefinition } from '@kumo/service-kit';
import { volumeConfigShape } from './config.js';
import { volumeDatabase } from './db/database.js';
import { volumePolicy } from './policy.js';
import { VersionsModule } from './versions/versions.module.js';
import { VolumeModule } from './volume.module.js';

export const VERSION = '0.1.0';

export const volumeService: ServiceDefinition = {
  name: 'volume',
  family: 'cinder',
  version: VERSION,
  port: { variable: 'KUMO_VOLUME_PORT', default: 8776 },
  config: volumeConfigShape,
  database: volumeDatabase,
  modules: () => [VersionsModule, VolumeModule],
  policy: volumePolicy,
};
