import type { ServiceDefinition } from '@kumo/service-kit';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const identityService: ServiceDefinition = {
  name: 'identity',
  family: 'keystone',
  version: VERSION,
  port: { variable: 'KUMO_IDENTITY_PORT', default: 5000 },
  database: { schema: 'identity', entities: [], migrations: [] },
  modules: () => [VersionsModule],
};
