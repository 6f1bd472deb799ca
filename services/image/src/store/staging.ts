import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';

/** When this process started: tells our own files and uploads from those of an earlier process with the same pid. */
const STARTED_AT = Date.now() - Math.round(process.uptime() * 1000);

const WRITEBACK_STEP = 32 << 20;

const PART_RE = /^([0-9a-f-]{36})\.([^.]+)\.(\d+)\.[0-9a-f]+\.part$/;
const STAGED_RE = /^([0-9a-f-]{36})\.staged$/;

/**
 * Local files for data on its way into the store: `<id>.<host>.<pid>.<rand>.part` while an
 * upload streams in (never visible as image data), `<id>.staged` for glance-direct data waiting
 * for `import`. A crashed process leaves `.part` files behind; `sweep` removes those of this
 * host whose process is gone.
 */
export class StagingArea {
  private readonly host = hostname().replace(/[^A-Za-z0-9-]/g, '-');

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    try {
      await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await fs.promises.access(this.dir, fs.constants.W_OK);
    } catch (err) {
      throw new Error(`the image staging directory ${this.dir} cannot be used (${(err as Error).message})`, { cause: err });
    }
  }

  partPath(imageId: string): string {
    return path.join(this.dir, `${imageId}.${this.host}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  }

  stagedPath(imageId: string): string {
    return path.join(this.dir, `${imageId}.staged`);
  }

  /**
   * A new file (never overwrites). With `sync`, the data is fsynced before 'finish', and written
   * back while it streams in: every 32 MiB an fdatasync runs in the background, so the final
   * fsync has only the tail to flush instead of the whole image (Linux starts background
   * writeback only past dirty_background_ratio, several GiB on a large host).
   */
  createWriter(file: string, sync: boolean): Writable {
    const ws = fs.createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: 1 << 20, flush: sync });
    if (!sync) return ws;
    let synced = 0;
    let syncing = false;
    const timer = setInterval(() => {
      const fd = (ws as unknown as { fd: number | null }).fd;
      if (syncing || fd === null || ws.destroyed || ws.writableFinished || ws.bytesWritten - synced < WRITEBACK_STEP) return;
      syncing = true;
      const at = ws.bytesWritten;
      fs.fdatasync(fd, () => {
        syncing = false;
        synced = at;
      });
    }, 100);
    timer.unref();
    const stop = () => clearInterval(timer);
    ws.once('finish', stop);
    ws.once('close', stop);
    ws.once('error', stop);
    return ws;
  }

  async rename(from: string, to: string): Promise<void> {
    await fs.promises.rename(from, to);
  }

  async remove(file: string): Promise<void> {
    await fs.promises.rm(file, { force: true });
  }

  async exists(file: string): Promise<boolean> {
    return fs.promises.access(file).then(
      () => true,
      () => false,
    );
  }

  /**
   * Removes leftovers: `.part` files of this host whose writer process is gone, and `.staged`
   * files whose image no longer waits for import. Returns the names removed.
   */
  async sweep(stagedStillWanted: (imageId: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await fs.promises.readdir(this.dir).catch(() => [] as string[])) {
      const part = PART_RE.exec(name);
      const full = path.join(this.dir, name);
      const earlierSelf = async () => Number(part![3]) === process.pid && ((await fs.promises.stat(full).catch(() => null))?.mtimeMs ?? 0) < STARTED_AT;
      if (part && part[2] === this.host && (!alive(Number(part[3])) || (await earlierSelf()))) {
        await this.remove(path.join(this.dir, name));
        removed.push(name);
        continue;
      }
      const staged = STAGED_RE.exec(name);
      if (staged && !stagedStillWanted(staged[1]!)) {
        await this.remove(path.join(this.dir, name));
        removed.push(name);
      }
    }
    return removed;
  }

  /** `host:pid:start` of this process, recorded on images it writes. */
  get owner(): string {
    return `${this.host}:${process.pid}:${STARTED_AT}`;
  }

  /** True if `owner` names a process of this host that no longer runs (an earlier us included). */
  isDeadLocalOwner(owner: string): boolean {
    const [host, pid, started] = owner.split(':');
    if (host !== this.host) return false;
    if (Number(pid) === process.pid) return Number(started) !== STARTED_AT;
    return !alive(Number(pid));
  }

  get hostPrefix(): string {
    return `${this.host}:`;
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
