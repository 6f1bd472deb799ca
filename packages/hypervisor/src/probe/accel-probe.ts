// Accelerator probe: does KVM actually run a guest here?
//
// Opening /dev/kvm, KVM_CREATE_VM and QMP query-kvm {present: true} all succeed on hosts
// where no KVM guest can boot (measured on the dev machines: /dev/kvm is PVM, `-cpu host`
// aborts with "failed to set MSR 0x10a", masked models hang in the emulator). So the probe
// boots the test guest for real under each KVM candidate with a short timeout, watching for:
//   - SIGABRT / "failed to set MSR" (QEMU assertion on unsupported MSRs)    -> abort
//   - "KVM internal error" (emulation failure; QEMU pauses, does not exit)   -> kvm-internal-error
//   - no boot marker before the deadline                                    -> timeout
// and falls back to TCG (also verified by a boot). The result says what was chosen and why;
// nothing is ever silently slow or silently failing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HostError } from '../errors.js';
import { kvmInfo, type KvmInfo } from '../native.js';
import type { TestGuest } from '../testing/test-guest.js';

export type AttemptOutcome = 'ok' | 'abort' | 'kvm-internal-error' | 'timeout' | 'error' | 'skipped';

export interface ProbeAttempt {
  accel: 'kvm' | 'tcg';
  cpu: string;
  outcome: AttemptOutcome;
  /** Wall ms from spawn to marker / failure. */
  ms: number;
  detail: string;
}

export interface AccelProbeResult {
  accel: 'kvm' | 'tcg';
  /** The -cpu that booted (e.g. `host,-arch-capabilities` or `qemu64`). */
  cpu: string;
  /** Feature mask the driver must add to host-passthrough/host-model on this host (KVM only). */
  hostCpuMask: string[];
  reason: string;
  attempts: ProbeAttempt[];
  kvm: KvmInfo;
  qemuVersion: string;
  probedAt: string;
}

export const DEFAULT_KVM_CANDIDATES = ['host', 'host,-arch-capabilities', 'host,-arch-capabilities,-cx16,-xsave'];

export interface ProbeOptions {
  guest: TestGuest;
  qemuBinary?: string;
  /** Per KVM candidate; a working KVM boots the test guest in well under a second. */
  kvmTimeoutMs?: number;
  tcgTimeoutMs?: number;
  kvmCandidates?: string[];
  /** Skip the TCG verification boot (e.g. when only the KVM verdict is needed). */
  skipTcgBoot?: boolean;
  marker?: string;
}

export function qemuVersion(binary = 'qemu-system-x86_64'): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', (e) =>
      reject(new HostError(`${binary} not found or not runnable (${(e as Error).message}): install the Debian package qemu-system-x86.`)),
    );
    p.on('close', () => resolve(out.split('\n')[0]?.trim() ?? 'unknown'));
  });
}

/** Boots the test guest once with the given accel/cpu and classifies the outcome. */
export async function bootAttempt(opts: {
  guest: TestGuest;
  accel: 'kvm' | 'tcg';
  cpu?: string;
  timeoutMs: number;
  qemuBinary?: string;
  marker?: string;
}): Promise<ProbeAttempt> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-probe-'));
  const serial = path.join(dir, 'serial.log');
  const marker = opts.marker ?? 'GUEST-UP';
  const args = ['-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', opts.accel];
  if (opts.cpu) args.push('-cpu', opts.cpu);
  args.push(
    ...['-m', '128', '-smp', '1', '-display', 'none', '-no-reboot', '-serial', `file:${serial}`],
    ...['-kernel', opts.guest.kernel, '-initrd', opts.guest.initrd, '-append', 'console=ttyS0 quiet panic=-1 kumo.net=0'],
  );
  const start = Date.now();
  const proc = spawn(opts.qemuBinary ?? 'qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  proc.on('exit', (code, signal) => (exit = { code, signal }));
  proc.on('error', (e) => (spawnError = e));
  const cpu = opts.cpu ?? (opts.accel === 'kvm' ? 'kvm64' : 'qemu64');
  const result = (outcome: AttemptOutcome, detail: string): ProbeAttempt => ({ accel: opts.accel, cpu, outcome, ms: Date.now() - start, detail });
  try {
    for (;;) {
      if (spawnError) return result('error', `cannot run QEMU: ${(spawnError as Error).message} (install qemu-system-x86)`);
      let text = '';
      try {
        text = fs.readFileSync(serial, 'utf8');
      } catch {
        /* not yet */
      }
      if (text.includes(marker)) return result('ok', `${marker} after ${Date.now() - start} ms`);
      const errLine = stderr.split('\n').find((l) => /failed to set MSR|KVM internal error|Assertion/.test(l));
      if (/KVM internal error/.test(stderr)) return result('kvm-internal-error', errLine ?? 'KVM internal error');
      if (exit) {
        const e = exit as { code: number | null; signal: NodeJS.Signals | null };
        if (e.signal === 'SIGABRT' || /failed to set MSR|Assertion/.test(stderr))
          return result('abort', `${e.signal ?? 'exit ' + e.code}: ${errLine ?? stderr.trim().split('\n').at(-1) ?? ''}`);
        return result('error', `QEMU exited (${e.signal ?? e.code}) before ${marker}: ${stderr.trim().split('\n').at(-1) ?? ''}`);
      }
      if (Date.now() - start > opts.timeoutMs) return result('timeout', `no ${marker} within ${opts.timeoutMs} ms${stderr ? ': ' + stderr.trim().split('\n').at(-1) : ''}`);
      await delay(25);
    }
  } finally {
    if (!exit) proc.kill('SIGKILL');
    await new Promise((r) => (exit ? r(null) : proc.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function probeAccelerator(opts: ProbeOptions): Promise<AccelProbeResult> {
  const qemuBinary = opts.qemuBinary ?? 'qemu-system-x86_64';
  const version = await qemuVersion(qemuBinary);
  const kvm = kvmInfo();
  const attempts: ProbeAttempt[] = [];
  const candidates = opts.kvmCandidates ?? DEFAULT_KVM_CANDIDATES;
  const kvmTimeoutMs = opts.kvmTimeoutMs ?? 10_000;
  const pvmNote = kvm.pvm ? ' (kvm_pvm loaded: PVM software virtualization, which needs PVM-enabled guest kernels)' : '';
  if (!kvm.openable) {
    attempts.push({ accel: 'kvm', cpu: '-', outcome: 'skipped', ms: 0, detail: kvm.detail || '/dev/kvm not available' });
  } else {
    for (const cpu of candidates) {
      const a = await bootAttempt({ guest: opts.guest, accel: 'kvm', cpu, timeoutMs: kvmTimeoutMs, qemuBinary, marker: opts.marker });
      attempts.push(a);
      if (a.outcome === 'ok') {
        const mask = cpu.split(',').slice(1);
        return {
          accel: 'kvm',
          cpu,
          hostCpuMask: mask,
          reason: `kvm: the test guest booted with -cpu ${cpu} in ${a.ms} ms${mask.length ? ` (needs mask ${mask.join(',')})` : ''}${pvmNote}`,
          attempts,
          kvm,
          qemuVersion: version,
          probedAt: new Date().toISOString(),
        };
      }
    }
  }
  const kvmSummary = attempts.map((a) => `-cpu ${a.cpu}: ${a.outcome}${a.detail ? ` (${a.detail})` : ''}`).join('; ');
  let tcgNote = 'not verified';
  if (!opts.skipTcgBoot) {
    const t = await bootAttempt({ guest: opts.guest, accel: 'tcg', timeoutMs: opts.tcgTimeoutMs ?? 60_000, qemuBinary, marker: opts.marker });
    attempts.push(t);
    if (t.outcome !== 'ok') throw new HostError(`Neither KVM nor TCG can boot the test guest here. KVM: ${kvmSummary}. TCG: ${t.outcome} (${t.detail}).`);
    tcgNote = `booted in ${t.ms} ms`;
  }
  return {
    accel: 'tcg',
    cpu: 'qemu64',
    hostCpuMask: [],
    reason: `tcg (software emulation, ${tcgNote}) because KVM did not boot a guest: ${kvmSummary}${pvmNote}`,
    attempts,
    kvm,
    qemuVersion: version,
    probedAt: new Date().toISOString(),
  };
}

/** Human-readable report for `kumo-hypervisor probe`. */
export function formatProbe(r: AccelProbeResult): string {
  const lines = [
    `accelerator: ${r.accel}  cpu: ${r.cpu}${r.hostCpuMask.length ? `  host cpu mask: ${r.hostCpuMask.join(',')}` : ''}`,
    `reason: ${r.reason}`,
    `qemu: ${r.qemuVersion}`,
    `/dev/kvm: ${r.kvm.openable ? 'openable' : 'not openable'}; api version: ${r.kvm.apiVersion ?? 'unknown'}; modules: ${r.kvm.modules.join(',') || 'none'}${r.kvm.pvm ? ' (PVM)' : ''}${r.kvm.detail ? `; ${r.kvm.detail}` : ''}`,
    'attempts:',
    ...r.attempts.map((a) => `  ${a.accel.padEnd(3)} -cpu ${a.cpu.padEnd(38)} ${a.outcome.padEnd(18)} ${String(a.ms).padStart(6)} ms  ${a.detail}`),
  ];
  return lines.join('\n');
}
