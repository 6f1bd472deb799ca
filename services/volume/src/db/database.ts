import type { DatabaseDefinition } from '@kumo/service-kit';
import { VolumeSchema1764800000000 } from './migrations.js';
import { VolumeAttachmentHeld1765900000000 } from './migrations-held.js';
import { VolumeFromSnapshot1796000000101, VolumeSnapshots1796000000100 } from './migrations-snapshots.js';

export const volumeDatabase: DatabaseDefinition = {
  schema: 'volume',
  entities: [],
  migrations: [VolumeSchema1764800000000, VolumeAttachmentHeld1765900000000, VolumeSnapshots1796000000100, VolumeFromSnapshot1796000000101],
};
