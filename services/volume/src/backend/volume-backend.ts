import fs from 'node:fs';
import path from 'node:path';
import { convertImage, createImage, imageInfo, resizeImage } from '@kumo/hypervisor';
import type { VolumeConnectionInfo } from '@kumo/contracts';

export const GIB = 1024 ** 3;

/**
 * Where volume data lives (Cinder's volume driver). Every side effect on data is behind this
 * interface, so the API and RPC logic is unit-testable with a fake; the integration tests use the
 * file backend with the real qemu-img.
 */
export interface VolumeBackend {
  /** An empty volume of `sizeGb`. Idempotent: an existing partial file is replaced. */
  create(id: string, sizeGb: number): Promise<void>;
  /** A volume holding the image `src` (format `srcFormat`), grown to `sizeGb`. */
  createFromImage(id: string, sizeGb: number, src: string, srcFormat: string): Promise<void>;
  extend(id: string, sizeGb: number): Promise<void>;
  /** Removes the data; idempotent (a missing file is fine). */
  remove(id: string): Promise<void>;
  /** A snapshot `snapshotId`: the volume's data as it is now. Idempotent: a partial copy is replaced. */
  snapshot(volumeId: string, snapshotId: string): Promise<void>;
  /** Removes a snapshot's data; idempotent. */
  removeSnapshot(snapshotId: string): Promise<void>;
  /** A volume holding the snapshot's data, grown to `sizeGb`. */
  createFromSnapshot(id: string, sizeGb: number, snapshotId: string): Promise<void>;
  /** Replaces the data of `targetId` by a copy of `sourceId`'s, at the target's size `sizeGb`. */
  copy(sourceId: string, targetId: string, sizeGb: number): Promise<void>;
  /** How a hypervisor on this node opens the volume. */
  connection(id: string, sizeGb: number): VolumeConnectionInfo;
}

export const VOLUME_BACKEND = Symbol('VOLUME_BACKEND');

/**
 * One qcow2 file per volume, named by its id, in the volume directory. Data is written to
 * `<id>.part` and renamed into place, so a crash mid-create never leaves a half-written file
 * under the volume's name (a left-over `.part` is replaced by the next attempt or removed by
 * `remove`).
 */
export class FileBackend implements VolumeBackend {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  }

  pathOf(id: string): string {
    // ids are uuids (checked by callers); the check keeps a bad id from escaping the directory.
    if (!/^[0-9a-f-]{32,36}$/i.test(id)) throw new Error(`not a volume id: ${id}`);
    return path.join(this.dir, id);
  }

  private async commit(id: string, part: string): Promise<void> {
    const fd = fs.openSync(part, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(part, this.pathOf(id));
  }

  async create(id: string, sizeGb: number): Promise<void> {
    const part = `${this.pathOf(id)}.part`;
    fs.rmSync(part, { force: true });
    await createImage(part, { format: 'qcow2', sizeBytes: sizeGb * GIB });
    await this.commit(id, part);
  }

  async createFromImage(id: string, sizeGb: number, src: string, srcFormat: string): Promise<void> {
    const part = `${this.pathOf(id)}.part`;
    fs.rmSync(part, { force: true });
    // The format is forced (never probed): the image service inspected the data under this format.
    await convertImage(src, part, { srcFormat, dstFormat: 'qcow2' });
    const info = await imageInfo(part, { format: 'qcow2' });
    if (info['virtual-size'] < sizeGb * GIB) await resizeImage(part, sizeGb * GIB, { format: 'qcow2' });
    await this.commit(id, part);
  }

  async extend(id: string, sizeGb: number): Promise<void> {
    await resizeImage(this.pathOf(id), sizeGb * GIB, { format: 'qcow2' });
  }

  async remove(id: string): Promise<void> {
    fs.rmSync(this.pathOf(id), { force: true });
    fs.rmSync(`${this.pathOf(id)}.part`, { force: true });
  }

  /** Snapshots live in `snapshots/` beside the volumes, one full qcow2 copy each (no backing chain to keep consistent). */
  snapshotPathOf(id: string): string {
    if (!/^[0-9a-f-]{32,36}$/i.test(id)) throw new Error(`not a snapshot id: ${id}`);
    return path.join(this.dir, 'snapshots', id);
  }

  async snapshot(volumeId: string, snapshotId: string): Promise<void> {
    const dest = this.snapshotPathOf(snapshotId);
    fs.mkdirSync(path.dirname(dest), { recursive: true, mode: 0o750 });
    const part = `${dest}.part`;
    fs.rmSync(part, { force: true });
    await convertImage(this.pathOf(volumeId), part, { srcFormat: 'qcow2', dstFormat: 'qcow2' });
    const fd = fs.openSync(part, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(part, dest);
  }

  async copy(sourceId: string, targetId: string, sizeGb: number): Promise<void> {
    const part = `${this.pathOf(targetId)}.part`;
    fs.rmSync(part, { force: true });
    await convertImage(this.pathOf(sourceId), part, { srcFormat: 'qcow2', dstFormat: 'qcow2' });
    const info = await imageInfo(part, { format: 'qcow2' });
    if (info['virtual-size'] < sizeGb * GIB) await resizeImage(part, sizeGb * GIB, { format: 'qcow2' });
    // The rename replaces the target's file whole: a crash leaves either the old data or the copy.
    await this.commit(targetId, part);
  }

  async createFromSnapshot(id: string, sizeGb: number, snapshotId: string): Promise<void> {
    await this.createFromImage(id, sizeGb, this.snapshotPathOf(snapshotId), 'qcow2');
  }

  async removeSnapshot(snapshotId: string): Promise<void> {
    fs.rmSync(this.snapshotPathOf(snapshotId), { force: true });
    fs.rmSync(`${this.snapshotPathOf(snapshotId)}.part`, { force: true });
  }

  connection(id: string, sizeGb: number): VolumeConnectionInfo {
    return { driverVolumeType: 'file', path: this.pathOf(id), format: 'qcow2', sizeBytes: sizeGb * GIB };
  }
}
