// The tiny test guest (Debian cloud kernel + busybox initramfs, optional ext4/qcow2 root),
// built once by test-guest/build-test-guest.sh and cached. Used by the real-QEMU tests, the
// accelerator probe and the benchmark.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HostError } from '../errors.js';
import { PACKAGE_DIR } from '../native.js';

export interface TestGuest {
  dir: string;
  kernel: string;
  initrd: string;
  /** ext4 root as qcow2 (boot with root=/dev/vda); its overlay is made per test. */
  baseQcow2: string;
  rootfsRaw: string;
}

/** Markers the guest prints on ttyS0 (see build-test-guest.sh). */
export const GUEST_MARKERS = {
  up: 'GUEST-UP',
  hold: 'GUEST-HOLD',
  poweroff: 'GUEST-POWEROFF',
  acpiPowerdown: 'GUEST-ACPI-POWERDOWN',
  rootfsUp: 'ROOTFS-UP',
  heartbeat: /^HB (\d+) /m,
} as const;

export function testGuestDir(): string {
  return process.env.KUMO_TEST_GUEST_DIR ?? path.join(PACKAGE_DIR, '.test-guest-cache', 'guest');
}

function paths(dir: string): TestGuest {
  return {
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initramfs.cpio.gz'),
    baseQcow2: path.join(dir, 'base.qcow2'),
    rootfsRaw: path.join(dir, 'rootfs.raw'),
  };
}

const BUILDER = path.join(PACKAGE_DIR, 'test-guest', 'build-test-guest.sh');

/**
 * Returns the guest paths, building it first if needed (~6-10 s; the kernel .deb is cached in
 * <dir>/debs so rebuilds need no network). A builder change is picked up via a stamp holding
 * the builder's mtime+size.
 */
export function ensureTestGuest(): TestGuest {
  const dir = testGuestDir();
  const g = paths(dir);
  const st = fs.statSync(BUILDER);
  const stampWant = `${st.size}:${Math.floor(st.mtimeMs)}`;
  const stampFile = path.join(dir, '.stamp');
  const have = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8') : '';
  if (have === stampWant && [g.kernel, g.initrd, g.baseQcow2].every((p) => fs.existsSync(p))) return g;
  fs.mkdirSync(dir, { recursive: true });
  // A lock so parallel jest workers do not build into the same directory at once.
  const lock = path.join(dir, '.building');
  const start = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch {
      const holder = Number(fs.readFileSync(lock, 'utf8') || 0);
      let alive: boolean;
      try {
        process.kill(holder, 0);
        alive = true;
      } catch {
        alive = false;
      }
      if (!alive) fs.rmSync(lock, { force: true });
      else if (Date.now() - start > 300_000) throw new HostError(`Test guest build by pid ${holder} did not finish in 5 min (${lock}).`);
      else spawnSync('sleep', ['0.5']);
    }
  }
  try {
    if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stampWant) return g;
    const r = spawnSync('bash', [BUILDER, dir], { env: { ...process.env, ROOTFS: '1' }, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) {
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
      throw new HostError(
        `Building the test guest failed (exit ${r.status}${r.error ? ', ' + r.error.message : ''}). ` +
          'It needs apt access to download linux-image-cloud-amd64 (run `apt-get update`), busybox-static, cpio, e2fsprogs and qemu-utils. ' +
          `Output:\n${out}`,
      );
    }
    fs.writeFileSync(stampFile, stampWant);
    return g;
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** Kernel command line for the test guest. hold keeps it up with a heartbeat every `hb` s. */
export function guestCmdline(opts: { hold?: boolean; hb?: number; root?: string; net?: boolean } = {}): string {
  const parts = ['console=ttyS0', 'quiet', 'panic=-1'];
  if (opts.root) parts.push(`root=${opts.root}`);
  if (opts.hold) parts.push('kumo.hold=1');
  if (opts.hb) parts.push(`kumo.hb=${opts.hb}`);
  if (opts.net === false) parts.push('kumo.net=0');
  return parts.join(' ');
}
