import { Transform, type TransformCallback } from 'node:stream';
import type { Digests, HashSession } from './hashing.js';

/**
 * Passes image bytes through unchanged while counting them and feeding Glance's two digests
 * (md5 `checksum`, sha512 `os_hash_value`) to a HashSession. Fails the stream as soon as more
 * than `limit` bytes arrive, so an over-quota or over-size upload stops at the limit instead of
 * at its end. Waits for the hash session when it asks to (backpressure).
 */
export class Meter extends Transform {
  bytes = 0;
  private result?: Digests;

  constructor(
    private readonly limit: number,
    private readonly overLimit: (bytes: number) => Error,
    private readonly hash: HashSession,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(this.overLimit(this.bytes));
      return;
    }
    const wait = this.hash.update(chunk);
    this.push(chunk);
    if (wait) wait.then(() => cb(), cb);
    else cb();
  }

  override _flush(cb: TransformCallback): void {
    this.hash.finish().then((d) => {
      this.result = d;
      cb();
    }, cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    if (!this.result) this.hash.abort();
    cb(err);
  }

  digests(): Digests {
    if (!this.result) throw new Error('digests are known only after the stream finished');
    return this.result;
  }
}
