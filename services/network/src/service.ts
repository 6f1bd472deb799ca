import type { ServiceDefinition } from '@kumo/service-kit';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const networkService: ServiceDefinition = {
  name: 'network',
  family: 'neutron',
  version: VERSION,
  port: { variable: 'KUMO_NETWORK_PORT', default: 9696 },
  database: { schema: 'network', entities: [], migrations: [] },
  modules: () => [VersionsModule],
};
