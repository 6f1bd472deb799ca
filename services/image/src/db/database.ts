import type { DatabaseDefinition } from '@kumo/service-kit';
import { ImageSchema1764500000000 } from './migrations.js';

export const imageDatabase: DatabaseDefinition = { schema: 'image', entities: [], migrations: [ImageSchema1764500000000] };
