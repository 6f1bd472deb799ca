import type { DatabaseDefinition } from '@kumo/service-kit';
import { NetworkSchema1764600000000, PortRenderGeneration1764600000002, SubnetPools1764600000001 } from './migrations.js';

export const networkDatabase: DatabaseDefinition = { schema: 'network', entities: [], migrations: [NetworkSchema1764600000000, SubnetPools1764600000001, PortRenderGeneration1764600000002] };
