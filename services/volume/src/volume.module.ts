import { Module } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import { IMAGE_SOURCE, RpcImageSource } from './backend/image-source.js';
import { FileBackend, VOLUME_BACKEND } from './backend/volume-backend.js';
import { type VolumeConfig, volumeDirOf } from './config.js';
import { Db } from '@kumo/service-kit';
import { VolumeRepository } from './db/volume.repository.js';
import { EVENT_KICKER } from './events/event-kicker.js';
import { EventRelay } from './events/event-relay.js';
import { Reconciler } from './lifecycle/reconciler.js';
import { VolumeRpcController } from './rpc/volume.rpc.controller.js';
import { VolumesController } from './volumes/volumes.controller.js';
import { SnapshotRepository } from './snapshots/snapshot.repository.js';
import { SnapshotsController } from './snapshots/snapshots.controller.js';
import { SnapshotsService } from './snapshots/snapshots.service.js';
import { VolumesService } from './volumes/volumes.service.js';

@Module({
  controllers: [VolumesController, SnapshotsController, VolumeRpcController],
  providers: [
    Db,
    VolumeRepository,
    { provide: VOLUME_BACKEND, useFactory: (c: VolumeConfig) => new FileBackend(volumeDirOf(c)), inject: [KUMO_CONFIG] },
    { provide: IMAGE_SOURCE, useClass: RpcImageSource },
    EventRelay,
    { provide: EVENT_KICKER, useExisting: EventRelay },
    VolumesService,
    SnapshotRepository,
    SnapshotsService,
    Reconciler,
  ],
})
export class VolumeModule {}
