import type { ServiceDefinition } from '@kumo/service-kit';
import { networkDatabase } from './db/database.js';
import { NetworkModule } from './network.module.js';
import { VersionsModule } from './versions/versions.module.js';

export const VERSION = '0.1.0';

export const networkService: ServiceDefinition = {
  name: 'network',
  family: 'neutron',
  version: VERSION,
  port: { variable: 'KUMO_NETWORK_PORT', default: 9696 },
  database: networkDatabase,
  jsonAnyValue: true,
  modules: () => [VersionsModule, NetworkModule],
};
