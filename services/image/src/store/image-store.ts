import type { Readable, Writable } from 'node:stream';

/** Where a compute node can read an image's data without going through the HTTP API. */
export interface DirectLocation {
  /** `file` store: absolute path (readable on this node, or everywhere if the directory is shared). */
  path?: string;
  /** `rbd` store: a protected snapshot to clone from. */
  rbd?: { pool: string; image: string; snapshot: string };
}

export interface StoredObject {
  imageId: string;
  location: string;
  modifiedAt: Date;
}

/**
 * A place where verified image data lives (Glance's glance_store driver). Data arrives as a
 * local file that has already been hashed and inspected (see StagingArea); the store never sees
 * unvetted bytes.
 *
 * Contract of every implementation:
 *  - `put` is atomic: when it resolves, the complete data is at the returned location; when it
 *    rejects, nothing of this image is left in the store. The staging file is consumed (moved or
 *    copied and removed) on success and left for the caller to remove on failure.
 *  - `remove` is idempotent (absent data is not an error).
 *  - `read` streams bytes `start..end` (inclusive) with backpressure; never buffers the whole image.
 *  - Errors are sentences that say what to check (disk full, permissions, cluster reachable).
 */
export interface ImageStore {
  /** Driver id shown in `stores` and `/v2/info/stores`: `file`, `rbd`. */
  readonly id: string;
  readonly description: string;
  /** Creates/checks what the store needs; throws a sentence naming what to fix. */
  init(): Promise<void>;
  put(imageId: string, stagingPath: string): Promise<string>;
  read(location: string, range?: { start: number; end: number }): Promise<Readable>;
  /**
   * Optional fast path of `read`: writes bytes `start..end` into `dest` reusing two buffers,
   * instead of allocating one per chunk (in a process with a large heap the garbage collector
   * otherwise dominates a multi-GiB download). Resolves when the last write was flushed.
   */
  copyTo?(location: string, range: { start: number; end: number }, dest: Writable): Promise<void>;
  remove(location: string): Promise<void>;
  describe(location: string): DirectLocation;
  /** Everything the store holds, for the orphan sweep at start-up. */
  list(): Promise<StoredObject[]>;
}

export const IMAGE_STORE = Symbol('IMAGE_STORE');
