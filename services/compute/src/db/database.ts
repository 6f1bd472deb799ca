import type { DatabaseDefinition } from '@kumo/service-kit';
import { ComputeSchema1764600000000, NetworkRefresh1795000000000, QuotaClasses1795000000001, SeedFlavors1764600000001, ServerActions1795000000100, SnapshotImage1764600000002 } from './migrations.js';
import { Moves1764700000010 } from './migrations-moves.js';
import { Aggregates1795000000300 } from './migrations-aggregates.js';
import { Volumes1795000000200 } from './migrations-volumes.js';
import { Consoles1795000000400 } from './migrations-consoles.js';
import { HostUptime1795000000500 } from './migrations-uptime.js';
import { ServerExtras1796000000300 } from './migrations-server-extras.js';
import { InstanceBackup1796000000200 } from './migrations-backup.js';
import { ComputeNodeUuids1796000000500 } from './migrations-uuids.js';

export const computeDatabase: DatabaseDefinition = {
  schema: 'compute',
  entities: [],
  migrations: [ComputeSchema1764600000000, SeedFlavors1764600000001, SnapshotImage1764600000002, Moves1764700000010, NetworkRefresh1795000000000, QuotaClasses1795000000001, ServerActions1795000000100, Volumes1795000000200, Aggregates1795000000300, Consoles1795000000400, HostUptime1795000000500, InstanceBackup1796000000200, ServerExtras1796000000300, ComputeNodeUuids1796000000500],
};
