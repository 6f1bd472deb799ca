import type { ServiceDefinition } from '@kumo/service-kit';
import { ComputeModule } from './compute.module.js';
import { computeConfigShape } from './config.js';
import { computeDatabase } from './db/database.js';
import { computePolicy } from './policy.js';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const computeService: ServiceDefinition = {
  name: 'compute',
  family: 'nova',
  version: VERSION,
  port: { variable: 'KUMO_COMPUTE_PORT', default: 8774 },
  config: computeConfigShape,
  database: computeDatabase,
  modules: () => [VersionsModule, ComputeModule],
  policy: computePolicy,
  requestIdHeaders: ['x-compute-request-id'],
};
