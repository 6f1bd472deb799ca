import os from 'node:os';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { VolumeConfig } from '../config.js';
import { VolumeRepository } from '../db/volume.repository.js';
import { SnapshotRepository } from '../snapshots/snapshot.repository.js';
import { SnapshotsService } from '../snapshots/snapshots.service.js';
import { PROCESS_OWNER, VolumesService } from '../volumes/volumes.service.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Resolves what a crash or a vanished caller left half done, at start-up and every
 * KUMO_VOLUME_RECONCILE_INTERVAL_S:
 *
 * - `creating` volumes whose creator was a process of this host that no longer runs -> `error`
 *   (their partial data is removed; the user deletes the volume and tries again);
 * - reservations older than KUMO_VOLUME_RESERVATION_TIMEOUT_S (a conductor died between reserve
 *   and attach) -> given back, volume `available`;
 * - `deleting` volumes untouched for a minute (a crash between the status change and the data
 *   removal) -> the removal is run again;
 * - the same two repairs for snapshots (a dead creator -> `error`; a stuck removal is re-run).
 *
 * Gap: a `creating` volume whose creator ran on another host that died is only resolved when a
 * volume process starts on that host again.
 */
@Injectable()
export class Reconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('reconciler');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly volumes: VolumeRepository,
    private readonly service: VolumesService,
    private readonly snapshots: SnapshotRepository,
    private readonly snapshotService: SnapshotsService,
    @Inject(KUMO_CONFIG) private readonly config: VolumeConfig,
  ) {}

  onApplicationBootstrap() {
    this.timer = setInterval(() => void this.run(), this.config.KUMO_VOLUME_RECONCILE_INTERVAL_S * 1000);
    this.timer.unref();
    void this.run();
  }

  async onApplicationShutdown() {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass (tests call it directly). */
  run(): Promise<void> {
    this.running ??= this.pass()
      .catch((err) => this.log.warn(`reconcile pass failed: ${(err as Error).message}`))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const v of await this.volumes.creatingOf(`${os.hostname()}:`)) {
      const [, pidText] = (v.createOwner ?? '').split(':');
      const pid = Number(pidText);
      // Our own process: its jobs are tracked in memory, nothing to repair. Another live process: leave it alone.
      if (v.createOwner === PROCESS_OWNER || (pid !== process.pid && alive(pid))) continue;
      this.log.warn(`volume ${v.id}: its creator ${v.createOwner} is gone; marking it error`);
      await this.service.backend.remove(v.id).catch(() => undefined);
      await this.service.fail(v.id, 'the volume service stopped while creating this volume');
    }
    for (const a of await this.volumes.expiredReservations(this.config.KUMO_VOLUME_RESERVATION_TIMEOUT_S)) {
      this.log.warn(`volume ${a.volumeId}: reservation for server ${a.serverId} expired; volume available again`);
      await this.service.release({ projectId: '', isAdmin: true }, a.volumeId, a.serverId, true).catch((err) => this.log.warn(`expire reservation ${a.id}: ${(err as Error).message}`));
    }
    for (const v of await this.volumes.withStatus('deleting')) {
      if (Date.now() - v.updatedAt.getTime() < 60000) continue;
      await this.service.finishDelete(v.id);
    }
    for (const s of await this.snapshots.creatingOf(`${os.hostname()}:`)) {
      if (!this.deadCreator(s.createOwner)) continue;
      this.log.warn(`snapshot ${s.id}: its creator ${s.createOwner} is gone; marking it error`);
      await this.snapshotService.fail(s.id, 'the volume service stopped while creating this snapshot');
    }
    for (const s of await this.snapshots.withStatus('deleting')) {
      if (Date.now() - s.updatedAt.getTime() < 60000) continue;
      await this.snapshotService.finishDelete(s.id);
    }
  }

  /** A creator (`host:pid:token` of this host) that is neither this process nor another live one. */
  private deadCreator(owner: string | null): boolean {
    const pid = Number((owner ?? '').split(':')[1]);
    return owner !== PROCESS_OWNER && !(pid !== process.pid && alive(pid));
  }
}
