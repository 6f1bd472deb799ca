import fs from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { DirectLocation, ImageStore, StoredObject } from './image-store.js';

const CHUNK = 1 << 20;

/** Resolves once `chunk` has been handed to the destination (its write callback). */
function writeAll(dest: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    if (dest.destroyed) return reject(Object.assign(new Error('the client went away'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    dest.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}

const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The `file` store: one file per image, named by the image id, in one directory
 * (KUMO_IMAGE_STORE_DIR). The staging area lives in `<dir>/.staging` on the same filesystem,
 * so `put` is a rename: atomic, and no second copy of the bytes.
 */
export class FileStore implements ImageStore {
  readonly id = 'file';
  readonly description = 'Local filesystem store';

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    try {
      await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o750 });
      await fs.promises.access(this.dir, fs.constants.W_OK | fs.constants.R_OK);
    } catch (err) {
      throw new Error(`the image store directory ${this.dir} cannot be used (${(err as Error).message}): create it writable for this user, or set KUMO_IMAGE_STORE_DIR`, { cause: err });
    }
  }

  private pathOf(location: string): string {
    // Locations are image ids; anything else must never become a path.
    if (!ID_RE.test(location)) throw new Error(`invalid file store location ${JSON.stringify(location)}`);
    return path.join(this.dir, location);
  }

  async put(imageId: string, stagingPath: string): Promise<string> {
    const target = this.pathOf(imageId);
    await fs.promises.chmod(stagingPath, 0o640);
    await fs.promises.rename(stagingPath, target);
    // The rename is durable only once the directory entry is.
    const dir = await fs.promises.open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return imageId;
  }

  async read(location: string, range?: { start: number; end: number }): Promise<Readable> {
    const file = this.pathOf(location);
    // fs.ReadStream, not FileHandle.createReadStream: the latter reads through promises and
    // measured 3-4x slower here. Wait for 'open' so a missing file is an error now, not mid-response.
    const stream = fs.createReadStream(file, { start: range?.start, end: range?.end, highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async copyTo(location: string, range: { start: number; end: number }, dest: Writable): Promise<void> {
    const handle = await fs.promises.open(this.pathOf(location), 'r');
    try {
      const buffers = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
      let pending: Promise<void> = Promise.resolve();
      let pos = range.start;
      for (let i = 0; pos <= range.end; i++) {
        // Double buffering: read into one buffer while the other is being written. The write of
        // this buffer's previous use was awaited one iteration ago, so it is free.
        const buf = buffers[i % 2]!;
        const { bytesRead } = await handle.read(buf, 0, Math.min(CHUNK, range.end - pos + 1), pos);
        if (bytesRead === 0) throw new Error(`image data ${location} is shorter than expected (ends at byte ${pos})`);
        await pending;
        pending = writeAll(dest, buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      await pending;
    } finally {
      await handle.close();
    }
  }

  async remove(location: string): Promise<void> {
    await fs.promises.rm(this.pathOf(location), { force: true });
  }

  describe(location: string): DirectLocation {
    return { path: this.pathOf(location) };
  }

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    for (const name of await fs.promises.readdir(this.dir)) {
      if (!ID_RE.test(name)) continue;
      const st = await fs.promises.stat(path.join(this.dir, name)).catch(() => null);
      if (st?.isFile()) out.push({ imageId: name, location: name, modifiedAt: st.mtime });
    }
    return out;
  }
}
