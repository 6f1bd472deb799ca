import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Hostile and benign disk images, made with qemu-img (test fixtures only). */
export class Fixtures {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-image-fixtures-'));

  private qemuImg(...args: string[]) {
    execFileSync('qemu-img', args, { stdio: 'pipe' });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  read(name: string): Buffer {
    return fs.readFileSync(this.file(name));
  }

  /** A valid qcow2 of `size` virtual bytes with `data` written at its start. */
  qcow2(name: string, size = '64M', data?: Buffer): Buffer {
    const raw = this.file(`${name}.src.raw`);
    fs.writeFileSync(raw, Buffer.alloc(0));
    fs.truncateSync(raw, 1 << 20);
    if (data) {
      const fd = fs.openSync(raw, 'r+');
      fs.writeSync(fd, data, 0, data.length, 0);
      fs.closeSync(fd);
    }
    this.qemuImg('convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, this.file(name));
    this.qemuImg('resize', '-q', '-f', 'qcow2', this.file(name), size);
    return this.read(name);
  }

  /** qcow2 whose backing file is a host file (CVE-2024-32498 style). */
  backed(name: string, backing = '/etc/passwd'): Buffer {
    this.qemuImg('create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'raw', this.file(name), '1M');
    return this.read(name);
  }

  /** qcow2 with an external data file (another way to make QEMU read a host file). */
  dataFile(name: string): Buffer {
    const data = this.file(`${name}.data`);
    fs.writeFileSync(data, 'secret host data\n');
    this.qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${data},data_file_raw=on`, this.file(name), '4096');
    return this.read(name);
  }

  /** A VMDK descriptor whose extent is a host file. */
  vmdkDescriptor(target = '/etc/passwd'): Buffer {
    return Buffer.from(
      [
        '# Disk DescriptorFile',
        'version=1',
        'CID=fffffffe',
        'parentCID=ffffffff',
        'createType="monolithicFlat"',
        '',
        `RW 2048 FLAT "${target}" 0`,
        '',
        'ddb.virtualHWVersion = "4"',
        '',
      ].join('\n'),
    );
  }

  /** A qcow2 "bomb": tiny file, huge virtual size. */
  bomb(name: string, size = '256T'): Buffer {
    this.qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=2M', this.file(name), size);
    return this.read(name);
  }

  /** A qcow2 whose header claims ~8 EiB (beyond what qemu-img itself creates). */
  forgedHeader(): Buffer {
    const buf = Buffer.from(this.qcow2('forge-base'));
    buf.writeBigUInt64BE((1n << 63n) - 512n, 24);
    return buf;
  }

  cleanup() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
