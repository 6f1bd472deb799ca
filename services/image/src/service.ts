import type { ServiceDefinition } from '@kumo/service-kit';
import { setQuotaCommand } from './commands/set-quota.command.js';
import { seedTestImageCommand } from './commands/seed-test-image.command.js';
import { imageConfigShape } from './config.js';
import { imageDatabase } from './db/database.js';
import { ImageModule } from './image.module.js';
import { PATCH_MEDIA_TYPES } from './images/json-patch.js';
import { imagePolicy } from './policy.js';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const imageService: ServiceDefinition = {
  name: 'image',
  family: 'glance',
  version: VERSION,
  port: { variable: 'KUMO_IMAGE_PORT', default: 9292 },
  config: imageConfigShape,
  database: imageDatabase,
  modules: () => [VersionsModule, ImageModule],
  jsonTypes: [...PATCH_MEDIA_TYPES],
  policy: imagePolicy,
  commands: { 'seed-test-image': seedTestImageCommand, 'set-quota': setQuotaCommand },
};
