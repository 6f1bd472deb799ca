import { Inject, Injectable } from '@nestjs/common';
import { ApiError, KUMO_CONFIG } from '@kumo/service-kit';
import type { ImageConfig } from '../config.js';
import type { Sql } from '../db/db.js';
import { ImageRepository, type Usage } from '../db/image.repository.js';

export interface Limits {
  maxImages: number;
  maxBytes: number;
}

const show = (n: number) => (Number.isFinite(n) ? String(n) : 'unlimited');

/**
 * Per-project quotas: number of images and bytes of image data, computed from live rows (no
 * usage counters to drift). Defaults come from KUMO_IMAGE_QUOTA_IMAGES/_BYTES, per-project
 * overrides from `main.js set-quota`. Over quota answers 413, as Glance does for its
 * image_count_total / image_size_total limits.
 */
@Injectable()
export class QuotaService {
  constructor(
    private readonly images: ImageRepository,
    @Inject(KUMO_CONFIG) private readonly config: ImageConfig,
  ) {}

  async limits(sql: Sql, owner: string): Promise<Limits> {
    const o = await this.images.quotaOverride(sql, owner);
    const pick = (v: number | null | undefined, fallback: number) => (v === null || v === undefined ? fallback : v < 0 ? Infinity : v);
    return { maxImages: pick(o?.maxImages, this.config.KUMO_IMAGE_QUOTA_IMAGES), maxBytes: pick(o?.maxBytes, this.config.KUMO_IMAGE_QUOTA_BYTES) };
  }

  /** In the transaction that inserts the image: serialises on the project, then counts. */
  async claimImage(tx: Sql, owner: string | null): Promise<void> {
    if (!owner) return;
    await this.images.lockProject(tx, owner);
    const [limits, usage] = await Promise.all([this.limits(tx, owner), this.images.usage(tx, owner)]);
    if (usage.images + 1 > limits.maxImages) {
      throw ApiError.tooLarge(`Image quota exceeded for project ${owner}: it has ${usage.images} image(s) and may have at most ${show(limits.maxImages)}. Delete images you no longer need, or ask an administrator to raise the quota.`);
    }
  }

  /** Bytes `owner` may still store (besides `exceptImage`'s current data). */
  async remainingBytes(sql: Sql, owner: string | null, exceptImage?: string): Promise<{ remaining: number; limits: Limits; usage: Usage }> {
    if (!owner) return { remaining: Infinity, limits: { maxImages: Infinity, maxBytes: Infinity }, usage: { images: 0, bytes: 0 } };
    const [limits, usage] = await Promise.all([this.limits(sql, owner), this.images.usage(sql, owner, exceptImage)]);
    return { remaining: Math.max(0, limits.maxBytes - usage.bytes), limits, usage };
  }

  storageExceeded(owner: string, need: number, r: { limits: Limits; usage: Usage }): ApiError {
    return ApiError.tooLarge(
      `Image storage quota exceeded for project ${owner}: ${r.usage.bytes} byte(s) in use, this upload needs ${need} more, the limit is ${show(r.limits.maxBytes)}. Delete images you no longer need, or ask an administrator to raise the quota.`,
    );
  }

  /** Serialises the final check of an upload with every other upload/claim of the project. */
  async lockAndCheckBytes(tx: Sql, owner: string | null, imageId: string, size: number): Promise<void> {
    if (!owner) return;
    await this.images.lockProject(tx, owner);
    const r = await this.remainingBytes(tx, owner, imageId);
    if (size > r.remaining) throw this.storageExceeded(owner, size, r);
  }
}
