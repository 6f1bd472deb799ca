import type { BaseConfig } from '@kumo/service-kit';
import type { ImageConfig } from '../config.js';
import type { Image } from '../images/image.model.js';
import { parseArgs } from './args.js';
import { type OfflineCore, withOfflineCore } from './offline-core.js';

export const SEED_TAG = 'test-guest';
/** Kernel command line the test guest needs (console on ttyS0, root on the first virtio disk). */
export const TEST_GUEST_CMDLINE = 'console=ttyS0 root=/dev/vda';

export interface GuestFiles {
  kernel: string;
  initrd: string;
  disk: string;
}

interface Wanted {
  name: string;
  file: string;
  diskFormat: string;
  containerFormat: string;
  properties: Record<string, string>;
  minDisk?: number;
  minRam?: number;
}

/** The guest files: given on the command line, or built/cached by packages/hypervisor. */
async function guestFiles(a: Record<string, string>): Promise<GuestFiles> {
  if (a.kernel || a.initrd || a.disk) {
    if (!a.kernel || !a.initrd || !a.disk) throw new Error('give all of --kernel, --initrd and --disk, or none (then the test guest of packages/hypervisor is built/used)');
    return { kernel: a.kernel, initrd: a.initrd, disk: a.disk };
  }
  const { ensureTestGuest } = await import('@kumo/hypervisor/testing');
  const g = ensureTestGuest();
  return { kernel: g.kernel, initrd: g.initrd, disk: g.baseQcow2 };
}

/** An active seeded image with this name and content, or null. */
async function existing(core: OfflineCore, name: string, checksum: string, props: Record<string, string>): Promise<Image | null> {
  const found = await core.repo.list(
    { equals: { name: [name], status: ['active'] }, numbers: {}, booleans: {}, times: [], tags: [], properties: { kumo_seed: SEED_TAG }, memberStatus: 'all', visibilityAll: true, sort: [{ key: 'created_at', dir: 'desc' }], limit: 20 },
    { projectId: null, isAdmin: true },
  );
  return found.find((i) => i.checksum === checksum && Object.entries(props).every(([k, v]) => i.properties[k] === v)) ?? null;
}

/** Creates (or finds) one public seeded image; older seeded images of that name are hidden. */
async function seedOne(core: OfflineCore, w: Wanted, owner: string | null, log: (s: string) => void): Promise<Image> {
  const checksum = await core.files.md5(w.file);
  const properties = { ...w.properties, kumo_seed: SEED_TAG };
  const found = await existing(core, w.name, checksum, properties);
  if (found) {
    log(`${w.name}: ${found.id} (already there, checksum ${checksum})`);
    return found;
  }
  const image = await core.images.insert({
    owner,
    name: w.name,
    visibility: 'public',
    protected: false,
    osHidden: false,
    diskFormat: w.diskFormat,
    containerFormat: w.containerFormat,
    minRam: w.minRam ?? 0,
    minDisk: w.minDisk ?? 0,
    tags: [],
    properties,
  });
  const active = await core.data.receive(image, core.files.open(w.file), await core.files.size(w.file));
  const older = await core.repo.list(
    { equals: { name: [w.name] }, numbers: {}, booleans: { os_hidden: false }, times: [], tags: [], properties: { kumo_seed: SEED_TAG }, memberStatus: 'all', visibilityAll: true, sort: [{ key: 'created_at', dir: 'desc' }], limit: 100 },
    { projectId: null, isAdmin: true },
  );
  for (const o of older) if (o.id !== active.id) await core.repo.update(core.repo.db, o.id, { os_hidden: true });
  log(`${w.name}: ${active.id} (uploaded, ${active.size} bytes, virtual ${active.virtualSize}, checksum ${active.checksum})`);
  return active;
}

/**
 * `main.js seed-test-image [--kernel K --initrd I --disk D] [--owner PROJECT_ID]`
 * Uploads the tiny test guest of packages/hypervisor as public images, idempotently:
 *   kumo-test-kernel  (aki/aki)  the Debian cloud kernel
 *   kumo-test-ramdisk (ari/ari)  the busybox initramfs
 *   kumo-test         (qcow2/bare) the ext4 root disk, with kernel_id, ramdisk_id and
 *                     os_command_line, so compute boots it AMI-style (-kernel/-initrd/-append).
 * Running it again with the same files changes nothing; with new files it uploads new images
 * and hides (os_hidden) the old ones.
 */
export const seedTestImageCommand = {
  describe: 'upload the test guest as public images kumo-test (+ kernel/ramdisk), idempotently: [--kernel K --initrd I --disk D] [--owner PROJECT_ID]',
  run: async (config: BaseConfig & Record<string, unknown>, args: string[]): Promise<number> => {
    const a = parseArgs(args, ['kernel', 'initrd', 'disk', 'owner']);
    const files = await guestFiles(a);
    const owner = a.owner ?? null;
    const log = (s: string) => process.stdout.write(`${s}\n`);
    await withOfflineCore(config as ImageConfig, async (core) => {
      const kernel = await seedOne(core, { name: 'kumo-test-kernel', file: files.kernel, diskFormat: 'aki', containerFormat: 'aki', properties: {} }, owner, log);
      const ramdisk = await seedOne(core, { name: 'kumo-test-ramdisk', file: files.initrd, diskFormat: 'ari', containerFormat: 'ari', properties: {} }, owner, log);
      await seedOne(
        core,
        {
          name: 'kumo-test',
          file: files.disk,
          diskFormat: 'qcow2',
          containerFormat: 'bare',
          properties: { kernel_id: kernel.id, ramdisk_id: ramdisk.id, os_command_line: TEST_GUEST_CMDLINE, hw_disk_bus: 'virtio', os_distro: 'kumo-test-guest' },
          minDisk: 1,
          minRam: 128,
        },
        owner,
        log,
      );
    });
    return 0;
  },
};
