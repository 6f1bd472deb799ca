import type { DatabaseDefinition } from '@kumo/service-kit';
import { IdentitySchema1764400000000 } from './migrations.js';

export const identityDatabase: DatabaseDefinition = { schema: 'identity', entities: [], migrations: [IdentitySchema1764400000000] };
