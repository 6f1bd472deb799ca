import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleInit } from '@nestjs/common';
import { ImageRepository } from '../db/image.repository.js';
import { Inspector } from '../inspection/inspector.js';
import { IMAGE_STORE, type ImageStore } from '../store/image-store.js';
import { StagingArea } from '../store/staging.js';

/** Store files younger than this are never swept: another replica may be committing them. */
const ORPHAN_GRACE_MS = 10 * 60_000;

/**
 * Start-up duties. Before serving: the store, staging area and inspector must work (else the
 * service refuses to start, saying what to fix). After: repair what a crashed process of this
 * host left — images stuck in `saving`/`importing` go back to `queued`/`uploading`, `.part`
 * files are removed, and store files no image owns (a delete that could not remove its data)
 * are swept.
 */
@Injectable()
export class Recovery implements OnModuleInit, OnApplicationBootstrap {
  private readonly log = new Logger('recovery');
  /** The background sweep of this start (tests await it). */
  sweep: Promise<void> = Promise.resolve();

  constructor(
    private readonly images: ImageRepository,
    private readonly staging: StagingArea,
    private readonly inspector: Inspector,
    @Inject(IMAGE_STORE) private readonly store: ImageStore,
  ) {}

  async onModuleInit() {
    await this.store.init();
    await this.staging.init();
    this.log.log(await this.inspector.init());
  }

  async onApplicationBootstrap() {
    await this.repairInFlight().catch((err: Error) => this.log.error(`could not repair interrupted uploads: ${err.message}`));
    this.sweep = this.sweepFiles().catch((err: Error) => this.log.error(`file sweep failed: ${err.message}`));
  }

  async repairInFlight(): Promise<number> {
    let repaired = 0;
    for (const image of await this.images.inFlight(this.staging.hostPrefix)) {
      if (!image.uploadOwner || !this.staging.isDeadLocalOwner(image.uploadOwner)) continue;
      const stagedOk = image.status === 'importing' && image.staged && (await this.staging.exists(image.staged.path));
      const to = stagedOk ? 'uploading' : 'queued';
      const row = await this.images.update(
        this.images.db,
        image.id,
        { status: to, upload_owner: null, upload_started_at: null, ...(stagedOk ? {} : { staged: null }) },
        { status: [image.status], uploadOwner: image.uploadOwner },
      );
      if (row) {
        repaired++;
        this.log.warn(`image ${image.id} was ${image.status} by a process that is gone (${image.uploadOwner}): back to ${to}`);
      }
    }
    return repaired;
  }

  async sweepFiles(): Promise<void> {
    const staged = await this.images.stagedIds();
    const removed = await this.staging.sweep((id) => staged.has(id));
    if (removed.length) this.log.warn(`removed ${removed.length} leftover staging file(s): ${removed.join(', ')}`);
    const live = await this.images.liveLocations();
    const cutoff = Date.now() - ORPHAN_GRACE_MS;
    for (const o of await this.store.list()) {
      if (live.has(o.imageId) || o.modifiedAt.getTime() > cutoff) continue;
      await this.store.remove(o.location);
      this.log.warn(`removed orphaned image data ${o.location} (no live image owns it)`);
    }
  }
}
