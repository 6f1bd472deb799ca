import { Logger } from '@nestjs/common';
import { dataSourceOptions, PolicyService, pendingMigrations } from '@kumo/service-kit';
import { DataSource } from 'typeorm';
import type { ImageConfig } from '../config.js';
import { InlineHasher } from '../data/hashing.js';
import { ImageDataService } from '../data/image-data.service.js';
import { imageDatabase } from '../db/database.js';
import { Db } from '../db/db.js';
import { ImageRepository } from '../db/image.repository.js';
import { ImagesService } from '../images/images.service.js';
import { imagePolicy } from '../policy.js';
import { QuotaService } from '../quota/quota.service.js';
import type { ImageStore } from '../store/image-store.js';
import { LocalFiles } from '../store/local-files.js';
import { createStaging, createStore, inspectorOf } from '../store/store.factory.js';

export interface OfflineCore {
  repo: ImageRepository;
  images: ImagesService;
  data: ImageDataService;
  files: LocalFiles;
  store: ImageStore;
}

/**
 * The service's objects without Nest, HTTP or AMQP, for main.js subcommands (seeding, quotas).
 * Events they cause are queued in the outbox; the running service publishes them.
 */
export async function withOfflineCore<T>(config: ImageConfig, fn: (core: OfflineCore) => Promise<T>): Promise<T> {
  // Commands print their own results on stdout; the services' progress logs would only clutter it.
  Logger.overrideLogger(['error', 'warn']);
  const ds = new DataSource(dataSourceOptions(config.KUMO_DATABASE_URL, 'image', imageDatabase));
  await ds.initialize();
  try {
    const pending = await pendingMigrations(ds);
    if (pending.length) throw new Error(`the image schema has ${pending.length} pending migration(s): run 'node dist/main.js migrate' first`);
    const repo = new ImageRepository(new Db(ds));
    const quota = new QuotaService(repo, config);
    const store = createStore(config);
    const staging = createStaging(config);
    const inspector = inspectorOf(config);
    await store.init();
    await staging.init();
    await inspector.init();
    const policy = new PolicyService('glance', imagePolicy);
    const noKick = { kick: () => undefined };
    const files = new LocalFiles();
    const images = new ImagesService(repo, policy, quota, staging, store, noKick);
    const data = new ImageDataService(repo, images, policy, quota, staging, inspector, files, store, noKick, config, new InlineHasher());
    return await fn({ repo, images, data, files, store });
  } finally {
    await ds.destroy();
  }
}
