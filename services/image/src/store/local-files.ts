import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

/** Reading files of this host that become image data (the import_file RPC, seeding). */
export class LocalFiles {
  /** The real path of `file` if it is a regular file inside one of `dirs`; throws a sentence otherwise. */
  async resolveInside(file: string, dirs: string[]): Promise<string> {
    if (dirs.length === 0) throw new Error('importing local files is disabled: KUMO_IMAGE_IMPORT_DIRS is empty');
    let real: string;
    try {
      real = await fs.promises.realpath(file);
    } catch (err) {
      throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    const roots = await Promise.all(dirs.map((d) => fs.promises.realpath(d).catch(() => path.resolve(d))));
    if (!roots.some((r) => real.startsWith(r.endsWith(path.sep) ? r : r + path.sep))) {
      throw new Error(`${file} is outside the directories the image service may import from (${dirs.join(', ')})`);
    }
    const st = await fs.promises.stat(real);
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    return real;
  }

  async size(file: string): Promise<number> {
    return (await fs.promises.stat(file)).size;
  }

  open(file: string): Readable {
    return fs.createReadStream(file, { highWaterMark: 1 << 20 });
  }

  /** MD5 hex of a file (Glance's `checksum`), streamed. */
  async md5(file: string): Promise<string> {
    const hash = createHash('md5');
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  async remove(file: string): Promise<void> {
    await fs.promises.rm(file, { force: true });
  }
}
