import type { ServiceDefinition } from '@kumo/service-kit';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const computeService: ServiceDefinition = {
  name: 'compute',
  family: 'nova',
  version: VERSION,
  port: { variable: 'KUMO_COMPUTE_PORT', default: 8774 },
  database: { schema: 'compute', entities: [], migrations: [] },
  modules: () => [VersionsModule],
};
