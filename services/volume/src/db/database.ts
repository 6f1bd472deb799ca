import type { DatabaseDefinition } from '@kumo/service-kit';
import { VolumeSchema1764800000000 } from './migrations.js';

export const volumeDatabase: DatabaseDefinition = { schema: 'volume', entities: [], migrations: [VolumeSchema1764800000000] };
