import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes image bytes through unchanged while counting them and computing Glance's two digests
 * (md5 `checksum`, sha512 `os_hash_value`). Fails the stream as soon as more than `limit`
 * bytes arrive, so an over-quota or over-size upload stops at the limit instead of at its end.
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly md5: Hash = createHash('md5');
  private readonly sha512: Hash = createHash('sha512');

  constructor(
    private readonly limit: number,
    private readonly overLimit: (bytes: number) => Error,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(this.overLimit(this.bytes));
      return;
    }
    this.md5.update(chunk);
    this.sha512.update(chunk);
    cb(null, chunk);
  }

  digests(): { checksum: string; osHashValue: string } {
    return { checksum: this.md5.digest('hex'), osHashValue: this.sha512.digest('hex') };
  }
}
