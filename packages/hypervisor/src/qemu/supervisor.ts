// Process supervision for QEMU guests that must outlive the agent.
//
// A guest is NOT a child that dies with the agent. spawnDetached() starts, in a new session
// (setsid via `detached`), a tiny shell shim that runs QEMU and, when QEMU ends, writes its
// exit status to <dir>/exit-status (conmon-style). So:
// - the agent can be restarted (or kill -9'd) and the guest keeps running;
// - a new driver instance finds guests through <dir>/qemu.pid (written by QEMU itself),
//   checks the pid really is *this* instance's QEMU (its cmdline names this instance's QMP
//   socket, so a recycled pid is never mistaken for it) and reconnects to QMP;
// - after QEMU ends, even while no agent was running, the exit status tells a crash (signal,
//   error exit) from a clean poweroff.
//
// Per-instance directory (mode 0700, so other host users cannot reach the QMP/console sockets):
//   spec.json      current definition       runtime.json  driver facts (accel, intents)
//   qemu.pid       QEMU's -pidfile          qmp.sock      QMP monitor
//   console.sock   serial console           serial.log    serial output (+ serial.log.1)
//   vnc.sock       VNC (if enabled)         qemu.log      QEMU's stdout/stderr
//   exit-status    written by the shim      memory.state  suspend image
//   OVMF_VARS.fd   per-instance UEFI NVRAM
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { constants as osConstants } from 'node:os';
import type { ExitReason } from '../driver.js';
import type { InstancePaths } from './config/common.js';

export function instancePaths(stateDir: string, id: string): InstancePaths {
  const dir = path.join(stateDir, id);
  return {
    dir,
    specFile: path.join(dir, 'spec.json'),
    runtimeFile: path.join(dir, 'runtime.json'),
    pidfile: path.join(dir, 'qemu.pid'),
    qmpSocket: path.join(dir, 'qmp.sock'),
    consoleSocket: path.join(dir, 'console.sock'),
    serialLog: path.join(dir, 'serial.log'),
    vncSocket: path.join(dir, 'vnc.sock'),
    qemuLog: path.join(dir, 'qemu.log'),
    exitStatus: path.join(dir, 'exit-status'),
    ovmfVars: path.join(dir, 'OVMF_VARS.fd'),
    stateFile: path.join(dir, 'memory.state'),
  };
}

// The shim. `"$@"` is the QEMU command; fds 3.. passed by spawn() are inherited by it.
// The status is written atomically (tmp + mv) so a reader never sees a partial number.
const SHIM = 'rm -f "$KUMO_EXIT_FILE"; "$@"; st=$?; echo "$st" > "$KUMO_EXIT_FILE.tmp" && mv -f "$KUMO_EXIT_FILE.tmp" "$KUMO_EXIT_FILE"';

export interface DetachedProcess {
  /** The shim's pid (QEMU's parent). QEMU's own pid comes from the pidfile. */
  shimPid: number;
  child: ChildProcess;
  /** Resolves when the shim exits (only observable by the process that spawned it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `command` detached through the shim. `passFds` appear in QEMU as fds 3, 4, ... in
 * order. stdout/stderr go to paths.qemuLog (appended).
 */
export function spawnDetached(command: string[], paths: InstancePaths, passFds: number[] = []): DetachedProcess {
  const log = fs.openSync(paths.qemuLog, 'a', 0o600);
  try {
    const child = spawn('/bin/sh', ['-c', SHIM, 'kumo-qemu-shim', ...command], {
      detached: true,
      stdio: ['ignore', log, log, ...passFds],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', KUMO_EXIT_FILE: paths.exitStatus, LC_ALL: 'C' },
      cwd: paths.dir,
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: 127, signal: null }));
    });
    // The agent must be able to exit while guests run.
    child.unref();
    return { shimPid: child.pid ?? -1, child, exited };
  } finally {
    fs.closeSync(log);
  }
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPidfile(paths: InstancePaths): number | undefined {
  try {
    const n = Number(fs.readFileSync(paths.pidfile, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The QEMU pid of this instance if it is alive. Guards against pid reuse: the process must be
 * a live (non-zombie) process whose command line contains this instance's QMP socket path.
 */
export function livePid(paths: InstancePaths): number | undefined {
  const pid = readPidfile(paths);
  if (pid === undefined || !pidAlive(pid)) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(paths.qmpSocket)) return undefined;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

export function readExitStatus(paths: InstancePaths): number | undefined {
  try {
    const n = Number(fs.readFileSync(paths.exitStatus, 'utf8').trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

const SIGNAL_NAMES: Record<number, string> = Object.fromEntries(Object.entries(osConstants.signals).map(([k, v]) => [v, k]));

/** Last meaningful line QEMU printed (errors are prefixed with the binary name). */
export function lastQemuError(paths: InstancePaths): string | undefined {
  try {
    const text = readTail(paths.qemuLog, 16 * 1024);
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    const err = [...lines].reverse().find((l) => /qemu-system|error|Error|internal|failed|Assertion/.test(l));
    return err ?? lines.at(-1);
  } catch {
    return undefined;
  }
}

/**
 * Why QEMU ended, from the shim's exit status and QEMU's log. `intent` is what the driver
 * asked for (if anything) and `guestShutdown` whether a SHUTDOWN event from the guest was seen.
 */
export function classifyExit(paths: InstancePaths, intent: 'stop' | 'destroy' | 'suspend' | 'migrate' | undefined, guestShutdown: boolean): ExitReason {
  const status = readExitStatus(paths);
  const log = (() => {
    try {
      return readTail(paths.qemuLog, 16 * 1024);
    } catch {
      return '';
    }
  })();
  if (/KVM internal error/.test(log)) return { kind: 'internal-error', detail: lastQemuError(paths) ?? 'KVM internal error', exitStatus: status };
  if (status === undefined)
    return { kind: 'unknown', detail: 'QEMU is gone and left no exit status (its supervisor shim was killed too, or the host rebooted)' };
  if (status === 124) {
    // coreutils `timeout` wrapper (tests/bench maxLifetimeSec) fired.
    return { kind: 'signal', detail: 'QEMU hit its lifetime limit (timeout wrapper, status 124)', exitStatus: status };
  }
  if (status >= 128 && status < 160) {
    const sig = SIGNAL_NAMES[status - 128] ?? `signal ${status - 128}`;
    if (intent) return { kind: 'host-request', detail: `stopped by the driver (${intent}, ${sig})`, exitStatus: status, signal: sig };
    return { kind: 'signal', detail: `QEMU was killed by ${sig}`, exitStatus: status, signal: sig };
  }
  if (status === 0) {
    const term = /terminating on signal (\d+)(?: from pid (\d+))?/.exec(log);
    if (intent) return { kind: 'host-request', detail: `stopped by the driver (${intent})`, exitStatus: 0 };
    if (guestShutdown || !term) return { kind: 'guest-shutdown', detail: 'the guest powered off', exitStatus: 0 };
    return { kind: 'signal', detail: `QEMU terminated on signal ${term[1]}${term[2] ? ` from pid ${term[2]}` : ''}`, exitStatus: 0 };
  }
  return { kind: 'error', detail: `QEMU exited with status ${status}: ${lastQemuError(paths) ?? 'no error message'}`, exitStatus: status };
}

/** Last `max` bytes of a file (whole lines not guaranteed). */
export function readTail(file: string, max: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    fs.readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Keeps the serial log under `maxBytes`: when exceeded, the current log becomes serial.log.1
 * (replacing the previous one) and serial.log is truncated in place. QEMU opened it with
 * O_APPEND (logappend=on), so its next write lands at the new end of file. Total on disk is
 * bounded by 2 x maxBytes plus whatever is written between two checks.
 */
export function capSerialLog(paths: InstancePaths, maxBytes: number): boolean {
  let size: number;
  try {
    size = fs.statSync(paths.serialLog).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  fs.copyFileSync(paths.serialLog, paths.serialLog + '.1');
  fs.truncateSync(paths.serialLog, 0);
  return true;
}

/** Serial output tail across the rotated and current log. */
export function readSerial(paths: InstancePaths, maxBytes: number): string {
  let cur = '';
  try {
    cur = readTail(paths.serialLog, maxBytes);
  } catch {
    /* no log yet */
  }
  if (cur.length >= maxBytes) return cur;
  let prev = '';
  try {
    prev = readTail(paths.serialLog + '.1', maxBytes - cur.length);
  } catch {
    /* never rotated */
  }
  return prev + cur;
}

/** /proc/<pid>/stat utime+stime in ns (clock ticks are 100 Hz on Linux/x86). */
export function processCpuTimeNs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) * 10_000_000;
  } catch {
    return 0;
  }
}

export function processRssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Thread ids of a process other than the given ones (QEMU's emulator threads vs vCPUs). */
export function processThreads(pid: number): number[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}
