// The one loader for the native addon (node-pty's loadNativeModule pattern) plus the typed
// capability functions built on it. Each capability either has a JS fallback or throws a
// HostError that says what is missing and how to fix it; nothing here fails silently.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HostError } from './errors.js';

/** Shape of build/Release/kumo_native.node (native/kumo_native.cc). */
export interface KumoNative {
  kvmApiVersion(): number;
  kvmCheckExtension(cap: number): number;
  createTap(name: string, vnetHdr: boolean, queues: number, netnsPath: string): { name: string; fds: number[] };
  sendFd(sockFd: number, fd: number, payload: Buffer, timeoutMs: number): number;
  setAffinity(tid: number, cpus: number[]): void;
  getAffinity(tid: number): number[];
}

/** Package root: src/ or dist/ sit directly under it. */
export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let cached: { native: KumoNative | null; error: Error | null; tried: string[] } | null = null;

/** Where the addon may be; KUMO_NATIVE_PATH overrides (prebuilt binaries, tests). */
export function nativeCandidates(): string[] {
  const env = process.env.KUMO_NATIVE_PATH;
  const list = [
    path.join(PACKAGE_DIR, 'build', 'Release', 'kumo_native.node'),
    path.join(PACKAGE_DIR, 'build', 'Debug', 'kumo_native.node'),
    path.join(PACKAGE_DIR, 'prebuilds', `${process.platform}-${process.arch}`, 'kumo_native.node'),
  ];
  return env ? [env, ...list] : list;
}

function tryLoad(): { native: KumoNative | null; error: Error | null; tried: string[] } {
  if (process.env.KUMO_NATIVE_DISABLE === '1') {
    return { native: null, error: new Error('disabled by KUMO_NATIVE_DISABLE=1'), tried: [] };
  }
  const req = createRequire(import.meta.url);
  const tried: string[] = [];
  let lastErr: Error | null = null;
  for (const p of nativeCandidates()) {
    tried.push(p);
    if (!fs.existsSync(p)) continue;
    try {
      return { native: req(p) as KumoNative, error: null, tried };
    } catch (e) {
      lastErr = e as Error;
    }
  }
  return { native: null, error: lastErr ?? new Error('no kumo_native.node found'), tried };
}

/** The addon, or null if it is not built (see nativeStatus() for why). */
export function tryLoadNative(): KumoNative | null {
  cached ??= tryLoad();
  return cached.native;
}

export function nativeStatus(): { available: boolean; error?: string; tried: string[] } {
  cached ??= tryLoad();
  return { available: !!cached.native, error: cached.error?.message, tried: cached.tried };
}

/** The addon, or a HostError listing every path tried and how to build it. */
export function loadNative(): KumoNative {
  const n = tryLoadNative();
  if (n) return n;
  const s = nativeStatus();
  throw new HostError(
    `Failed to load the @kumo/hypervisor native addon (${s.error}); checked: ${s.tried.join(', ') || '(none)'}. ` +
      'Build it with `pnpm --filter @kumo/hypervisor build:native` (needs g++, make, python3 and Node headers in /usr/include/node).',
  );
}

/** For tests: forget the cached load result (after changing KUMO_NATIVE_* env). */
export function resetNativeForTest(): void {
  cached = null;
}

// ---------------------------------------------------------------- capabilities ----

/** KVM capability numbers from <linux/kvm.h> that the probe reports. */
export const KVM_CAP = {
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  EXT_CPUID: 7,
  NR_VCPUS: 9,
  MAX_VCPUS: 66,
  IRQCHIP: 0,
  HLT: 1,
  IOEVENTFD: 36,
} as const;

export interface KvmInfo {
  /** /dev/kvm exists and can be opened read-write. */
  openable: boolean;
  /** KVM_GET_API_VERSION (12 on every Linux since 2.6.22), null if unknown. */
  apiVersion: number | null;
  extensions: Record<string, number>;
  /** /sys/module/kvm_pvm exists: PVM software virtualization (needs PVM-enabled guest kernels). */
  pvm: boolean;
  /** Loaded vendor modules among kvm_intel/kvm_amd/kvm_pvm. */
  modules: string[];
  detail: string;
}

/** Static KVM facts. Opening /dev/kvm proves little (see probe): this only feeds the report. */
export function kvmInfo(): KvmInfo {
  const modules = ['kvm_intel', 'kvm_amd', 'kvm_pvm'].filter((m) => fs.existsSync(`/sys/module/${m}`));
  let openable = false;
  let detail = '';
  try {
    fs.closeSync(fs.openSync('/dev/kvm', 'r+'));
    openable = true;
  } catch (e) {
    detail = `/dev/kvm: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  let apiVersion: number | null = null;
  const extensions: Record<string, number> = {};
  const native = tryLoadNative();
  if (openable && native) {
    try {
      apiVersion = native.kvmApiVersion();
      for (const [name, cap] of Object.entries(KVM_CAP)) extensions[name] = native.kvmCheckExtension(cap);
    } catch (e) {
      detail = (e as Error).message;
    }
  } else if (openable) {
    detail = 'native addon not built: API version and extensions not queried';
  }
  return { openable, apiVersion, extensions, pvm: modules.includes('kvm_pvm'), modules, detail };
}

/**
 * Opens a TAP device (in `netns` if given) and returns one fd per queue, opened with
 * IFF_VNET_HDR. The fds are O_CLOEXEC; pass them to QEMU via spawn stdio or QMP getfd and close
 * them afterwards. No JS fallback: without the addon, the driver lets QEMU open the TAP by
 * name instead (which cannot reach another network namespace).
 */
export function openTap(ifname: string, opts: { queues?: number; netns?: string; vnetHdr?: boolean } = {}): { name: string; fds: number[] } {
  const native = loadNative();
  return native.createTap(ifname, opts.vnetHdr ?? true, opts.queues ?? 1, opts.netns ?? '');
}

/** Pins a thread (or process) to host CPUs. Falls back to util-linux `taskset` without the addon. */
export function setAffinity(tid: number, cpus: number[]): void {
  const native = tryLoadNative();
  if (native) {
    native.setAffinity(tid, cpus);
    return;
  }
  const r = spawnSync('taskset', ['-p', '-c', cpus.join(','), String(tid)], { encoding: 'utf8' });
  if (r.error || r.status !== 0)
    throw new HostError(`Cannot pin thread ${tid} to CPUs ${cpus.join(',')}: ${r.error?.message ?? r.stderr.trim()} (install util-linux or build the native addon)`);
}

/** Current affinity of a thread; reads /proc without the addon. */
export function getAffinity(tid: number): number[] {
  const native = tryLoadNative();
  if (native) return native.getAffinity(tid);
  const status = fs.readFileSync(`/proc/${tid}/status`, 'utf8');
  const line = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '';
  const out: number[] = [];
  for (const part of line.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}
