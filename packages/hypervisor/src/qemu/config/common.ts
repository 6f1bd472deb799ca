// Shared pieces for the per-device argv builders (firecracker's vmm_config style: one file
// per device, each a pure function from its config to an argv fragment). Nothing here does
// I/O; the fragments are plain string arrays that the tests snapshot.

/** Where a running instance keeps its files; computed by instancePaths() in supervisor code. */
export interface InstancePaths {
  dir: string;
  specFile: string;
  runtimeFile: string;
  pidfile: string;
  qmpSocket: string;
  consoleSocket: string;
  serialLog: string;
  vncSocket: string;
  qemuLog: string;
  exitStatus: string;
  ovmfVars: string;
  stateFile: string;
}

/** Host facts the argv needs but the spec must not carry (fd numbers, firmware paths). */
export interface ArgvContext {
  paths: InstancePaths;
  /** Used when spec.machine.accel is not set. */
  accel: 'kvm' | 'tcg';
  /**
   * TAP (and optionally vhost) fd numbers *as the QEMU process will see them*, per NIC id.
   * When absent for a NIC, QEMU opens the TAP itself by ifname.
   */
  nicFds?: Record<string, { tap: number[]; vhost?: number[] }>;
  /** Features to strip from `-cpu host`/`max` on this host under KVM (from the accelerator probe). */
  hostCpuMask?: string[];
  /** OVMF code image (read-only pflash) for firmware uefi. */
  ovmfCode?: string;
  /** Start with vCPUs stopped (-S) so the driver can pin threads before the guest runs. */
  startPaused?: boolean;
  /** `-incoming` argument (e.g. `defer`) for migration or restore targets. */
  incoming?: string;
}

export type Fragment = string[];

/** Escapes a value for QEMU's key=value option syntax, where a literal comma is written `,,`. */
export function esc(v: string | number | boolean): string {
  return String(v).replace(/,/g, ',,');
}

/**
 * Renders `first,k1=v1,k2=v2` skipping undefined values; booleans become on/off.
 * Keys are written as given (QEMU property names).
 */
export function opts(first: string | undefined, props: Record<string, string | number | boolean | undefined>): string {
  const parts: string[] = first !== undefined ? [first] : [];
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    const val = typeof v === 'boolean' ? (v ? 'on' : 'off') : esc(v);
    parts.push(`${k}=${val}`);
  }
  return parts.join(',');
}

/** JSON for options that accept it (-blockdev, -object): no escaping pitfalls with paths. */
export function json(obj: object): string {
  return JSON.stringify(obj);
}

/** Renders a list of integers as QEMU/Linux ranges: [0,1,2,5] -> "0-2,5". */
export function cpuRanges(cpus: number[]): string[] {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: string[] = [];
  let start = sorted[0];
  let prev = sorted[0];
  for (let i = 1; i <= sorted.length; i++) {
    const c = sorted[i];
    if (c !== undefined && prev !== undefined && c === prev + 1) {
      prev = c;
      continue;
    }
    if (start !== undefined && prev !== undefined) out.push(start === prev ? `${start}` : `${start}-${prev}`);
    start = c;
    prev = c;
  }
  return out;
}
