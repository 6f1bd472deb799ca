// A config drive as the compute agent attaches it (ISO 9660 labelled config-2, raw, read-only
// cdrom on IDE) is seen by a real guest under TCG. The test guest's initramfs loads only virtio
// modules, so this test appends a second cpio archive (the kernel unpacks concatenated archives,
// later files win) with the ATA/SCSI cdrom and isofs modules of the same kernel and its own /init.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { QemuDriver } from '../src/index.js';
import { destroyAll, testDriver, testGuest, tinySpec, tmpDir, useGuestSlots, waitConsole } from './helpers.js';

// Dependency order (each module's `depends=`).
const MODULES = ['drivers/scsi/scsi_common', 'drivers/scsi/scsi_mod', 'drivers/cdrom/cdrom', 'drivers/scsi/sr_mod', 'drivers/ata/libata', 'drivers/ata/ata_piix', 'fs/isofs/isofs'];

const INIT = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in ${MODULES.map((m) => path.basename(m)).join(' ')}; do insmod /lib/modules/cfg/$m.ko || echo "CFG-INSMOD-FAILED $m"; done
i=0; while [ ! -b /dev/sr0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
# The primary volume descriptor (sector 16) holds the volume id at bytes 40-71: what cloud-init matches by label.
echo "CFG-LABEL [$(dd if=/dev/sr0 bs=1 skip=32808 count=32 2>/dev/null | tr -d ' ')]"
mkdir -p /mnt
if mount -t iso9660 -o ro /dev/sr0 /mnt; then
  echo "CFG-META $(cat /mnt/openstack/latest/meta_data.json)"
  echo "CFG-RO $(grep ' /mnt ' /proc/mounts)"
else
  echo "CFG-MOUNT-FAILED"
fi
echo CFG-DONE
poweroff -f
`;

/** A newc cpio archive of `files` (path → content, mode). */
function cpio(files: { name: string; data: Buffer; mode: number }[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1000;
  const entry = (name: string, data: Buffer, mode: number) => {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    const nameBuf = Buffer.from(`${name}\0`);
    const header = `070701${hex(ino++)}${hex(mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(data.length)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(nameBuf.length)}${hex(0)}`;
    parts.push(Buffer.from(header), nameBuf, pad(110 + nameBuf.length), data, pad(data.length));
  };
  const dirs = new Set<string>();
  for (const f of files) for (let d = path.dirname(f.name); d !== '.'; d = path.dirname(d)) dirs.add(d);
  for (const d of [...dirs].sort()) entry(d, Buffer.alloc(0), 0o40755);
  for (const f of files) entry(f.name, f.data, f.mode);
  entry('TRAILER!!!', Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}

// genisoimage is one of ./kumo's prerequisites (./kumo test installs it): missing, the test fails
// saying so rather than skipping.
describe('config drive cdrom in a real guest (TCG)', () => {
  useGuestSlots(1);
  let driver: QemuDriver;
  let dir: string;
  beforeAll(() => {
    try {
      execFileSync('genisoimage', ['-version'], { stdio: 'ignore' });
    } catch {
      throw new Error('genisoimage is not installed: run ./kumo test (it installs the prerequisites) or apt-get install genisoimage');
    }
    dir = tmpDir('cfgdrive');
    driver = testDriver(`${dir}/state`);
  });
  afterAll(async () => {
    await destroyAll(driver);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the guest finds a read-only iso9660 cdrom labelled config-2 and reads meta_data.json from it', async () => {
    const g = testGuest();
    const kver = fs.readdirSync(path.join(g.dir, 'kernel-root/lib/modules'))[0]!;
    const moddir = path.join(g.dir, 'kernel-root/lib/modules', kver, 'kernel');
    const overlay = cpio([
      { name: 'init', data: Buffer.from(INIT), mode: 0o100755 },
      ...MODULES.map((m) => ({ name: `lib/modules/cfg/${path.basename(m)}.ko`, data: fs.readFileSync(path.join(moddir, `${m}.ko`)), mode: 0o100644 })),
    ]);
    const initrd = path.join(dir, 'initrd-cfg.cpio.gz');
    fs.writeFileSync(initrd, Buffer.concat([fs.readFileSync(g.initrd), zlib.gzipSync(overlay)]));

    const tree = path.join(dir, 'tree/openstack/latest');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'meta_data.json'), JSON.stringify({ uuid: 'cfg-guest-test' }));
    const iso = path.join(dir, 'disk.config');
    execFileSync('genisoimage', ['-o', iso, '-ldots', '-allow-lowercase', '-allow-multidot', '-l', '-quiet', '-J', '-r', '-V', 'config-2', path.join(dir, 'tree')]);

    const base = tinySpec('cfgdrive');
    await driver.spawn({
      ...base,
      boot: { kernel: g.kernel, initrd, cmdline: 'console=ttyS0 panic=-1' },
      disks: [{ id: 'config', path: iso, format: 'raw', bus: 'ide', media: 'cdrom', readOnly: true }],
    });
    const out = await waitConsole(driver, 'cfgdrive', 'CFG-DONE', 180_000);
    expect(out).not.toContain('CFG-INSMOD-FAILED');
    expect(out).toContain('CFG-LABEL [config-2]');
    expect(out).toContain('CFG-META {"uuid":"cfg-guest-test"}');
    expect(out).toMatch(/CFG-RO \/dev\/sr0 \/mnt iso9660 ro/);
  }, 300_000);
});
