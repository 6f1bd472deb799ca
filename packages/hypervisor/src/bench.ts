// `./kumo bench hypervisor`: boot-to-marker time per accelerator, driver overhead against a raw
// qemu-system-x86_64 command, and live-migration time/downtime against a hand-driven QMP
// migration. Baseline and Kumo are measured in the same run, alternating, several repetitions,
// medians reported. Needs the test guest and at most 2 concurrent guests (guest-slot lock).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FakeDriver } from './fake/driver.js';
import { formatProbe, probeAccelerator, type AccelProbeResult } from './probe/accel-probe.js';
import { buildQemuArgv } from './qemu/argv.js';
import { QemuDriver } from './qemu/driver.js';
import { QmpClient } from './qemu/qmp-client.js';
import { instancePaths } from './qemu/supervisor.js';
import { parseDomainSpec, type DomainSpecInput } from './spec.js';
import { acquireGuestSlots } from './testing/guest-slots.js';
import { ensureTestGuest, guestCmdline, type TestGuest } from './testing/test-guest.js';
import { waitUntil } from './wait.js';

export interface BenchResult {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  notes: string[];
}

export interface BenchOptions {
  /** Repetitions per measurement (default 5 boots, 3 migrations). */
  reps?: number;
  migrationReps?: number;
  kvmTimeoutMs?: number;
  log?: (line: string) => void;
}

const MARKER = 'GUEST-UP';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return Math.round(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
}

function fmt(xs: number[]): string {
  return xs.map((x) => Math.round(x)).join('/');
}

/** Spawns `qemu-system-x86_64 args` under `timeout`, waits for MARKER in `serialFile`, kills it. */
async function rawBoot(args: string[], serialFile: string, timeoutMs = 60_000): Promise<number> {
  const t0 = performance.now();
  // detached: own process group, so killing the group takes `timeout` *and* QEMU with it.
  const p = spawn('timeout', ['-s', 'KILL', '120', 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  let exited = false;
  p.on('exit', () => (exited = true));
  try {
    await waitUntil(
      timeoutMs,
      () => {
        if (exited) throw new Error(`raw QEMU exited before ${MARKER}: ${stderr.trim()}`);
        try {
          return fs.readFileSync(serialFile, 'utf8').includes(MARKER);
        } catch {
          return false;
        }
      },
      { what: `raw boot ${MARKER}`, intervalMs: 10 },
    );
    return performance.now() - t0;
  } finally {
    killGroup(p.pid);
    if (!exited) await new Promise((r) => p.once('exit', r));
  }
}

/** SIGKILL a process group started with `detached: true` (a `timeout` wrapper and its QEMU). */
function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

function minimalRawArgs(g: TestGuest, accel: 'kvm' | 'tcg', cpu: string | undefined, serial: string): string[] {
  const a = ['-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', accel];
  if (cpu) a.push('-cpu', cpu);
  return [...a, '-m', '256', '-smp', '1', '-display', 'none', '-serial', `file:${serial}`, '-kernel', g.kernel, '-initrd', g.initrd, '-append', guestCmdline({ hold: true, net: false })];
}

function benchSpec(g: TestGuest, id: string, accel: 'kvm' | 'tcg'): DomainSpecInput {
  return {
    id,
    machine: { type: 'pc', accel },
    memory: { sizeMb: 256 },
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: guestCmdline({ hold: true, hb: 1, net: false }) },
  };
}

async function driverBoot(d: QemuDriver, spec: DomainSpecInput): Promise<{ bootMs: number; spawnMs: number }> {
  const t0 = performance.now();
  await d.spawn(spec);
  const spawnMs = performance.now() - t0;
  await waitUntil(60_000, async () => (await d.getConsoleOutput(spec.id)).includes(MARKER), { what: `driver boot ${MARKER}`, intervalMs: 10 });
  const bootMs = performance.now() - t0;
  await d.destroy(spec.id);
  return { bootMs, spawnMs };
}

/** Baseline migration: two QEMUs driven by plain QMP commands (what an operator would type). */
async function rawMigration(g: TestGuest, dir: string, n: number): Promise<{ total: number; downtime: number }> {
  const mk = (name: string, incoming?: string) => {
    const qmp = path.join(dir, `${name}-${n}.qmp`);
    const args = [
      ...minimalRawArgs(g, 'tcg', undefined, path.join(dir, `${name}-${n}.serial`)),
      '-chardev',
      `socket,id=qmp,path=${qmp},server=on,wait=off`,
      '-mon',
      'chardev=qmp,mode=control',
    ];
    if (incoming) args.push('-incoming', incoming);
    const p = spawn('timeout', ['-s', 'KILL', '120', 'qemu-system-x86_64', ...args], { stdio: 'ignore', detached: true });
    return { p, qmp };
  };
  const sock = path.join(dir, `mig-${n}.sock`);
  const src = mk('src');
  const dst = mk('dst', `unix:${sock}`);
  try {
    await waitUntil(60_000, () => {
      try {
        return fs.readFileSync(path.join(dir, `src-${n}.serial`), 'utf8').includes('GUEST-HOLD');
      } catch {
        return false;
      }
    }, { what: 'raw source guest up' });
    await waitUntil(10_000, () => fs.existsSync(sock), { what: 'raw destination listening' });
    const c = new QmpClient({ socketPath: src.qmp });
    await c.connect();
    await c.execute('migrate', { uri: `unix:${sock}` });
    const info = await waitUntil(120_000, async () => {
      const m = await c.execute('query-migrate');
      if (m.status === 'failed') throw new Error(m['error-desc'] ?? 'raw migration failed');
      return m.status === 'completed' ? m : null;
    }, { what: 'raw migration', intervalMs: 20 });
    // total-time is filled in just after the status flips to completed.
    const final = info['total-time'] ? info : await waitUntil(2000, async () => {
      const m = await c.execute('query-migrate');
      return m['total-time'] ? m : null;
    }, { what: 'raw migration stats', intervalMs: 20 });
    c.close();
    return { total: final['total-time'] ?? 0, downtime: final.downtime ?? 0 };
  } finally {
    killGroup(src.p.pid);
    killGroup(dst.p.pid);
    await Promise.all([src.p, dst.p].map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => p.once('exit', r)))));
  }
}

async function driverMigration(g: TestGuest, dir: string, n: number): Promise<{ total: number; downtime: number }> {
  const a = new QemuDriver({ stateDir: path.join(dir, 'host-a'), accel: 'tcg', maxLifetimeSec: 120, logCheckIntervalMs: 0 });
  const b = new QemuDriver({ stateDir: path.join(dir, 'host-b'), accel: 'tcg', maxLifetimeSec: 120, logCheckIntervalMs: 0 });
  const id = `bench-mig-${n}`;
  try {
    await a.spawn(benchSpec(g, id, 'tcg'));
    await waitUntil(60_000, async () => (await a.getConsoleOutput(id)).includes('GUEST-HOLD'), { what: 'driver source guest up' });
    const inc = await b.prepareIncomingMigration((await a.getInfo(id)).spec);
    const r = await a.migrateOut(id, inc.uri);
    await b.finishIncomingMigration(id);
    return { total: r.totalTimeMs, downtime: r.downtimeMs };
  } finally {
    for (const d of [a, b]) {
      for (const x of await d.listDomains()) await d.destroy(x.id).catch(() => undefined);
      await d.close();
    }
  }
}

export async function runHypervisorBench(opts: BenchOptions = {}): Promise<BenchResult> {
  const reps = opts.reps ?? 5;
  const migReps = opts.migrationReps ?? 3;
  const log = opts.log ?? (() => undefined);
  const g = ensureTestGuest();
  const lease = await acquireGuestSlots(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-bench-hv-'));
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  try {
    log('probing accelerators ...');
    const probe: AccelProbeResult = await probeAccelerator({ guest: g, kvmTimeoutMs: opts.kvmTimeoutMs ?? 8000 });
    notes.push(`Accelerator probe: ${probe.reason}`);
    for (const line of formatProbe(probe).split('\n').slice(5)) notes.push(`probe attempt: ${line.trim().replace(/\s+/g, ' ')}`);
    const accels: ('kvm' | 'tcg')[] = probe.accel === 'kvm' ? ['kvm', 'tcg'] : ['tcg'];
    if (probe.accel !== 'kvm') rows.push(['boot to GUEST-UP (KVM)', 'kvm', 'n/a', 'n/a', 'ms', 0, 'KVM cannot boot a guest here (see probe note)']);

    for (const accel of accels) {
      const cpu = accel === 'kvm' ? probe.cpu : undefined;
      const d = new QemuDriver({ stateDir: path.join(dir, `drv-${accel}`), accel, probe, maxLifetimeSec: 120, logCheckIntervalMs: 0 });
      const raw: number[] = [];
      const rawSame: number[] = [];
      const drv: number[] = [];
      const spawnMs: number[] = [];
      for (let i = 0; i < reps; i++) {
        // Alternate so that machine-load drift hits all three alike.
        const s1 = path.join(dir, `raw-${accel}-${i}.serial`);
        raw.push(await rawBoot(minimalRawArgs(g, accel, cpu, s1), s1));
        const spec = parseDomainSpec(benchSpec(g, `same-${accel}-${i}`, accel));
        const paths = instancePaths(path.join(dir, 'raw-same'), spec.id);
        fs.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
        const same = buildQemuArgv(spec, { paths, accel, hostCpuMask: probe.hostCpuMask });
        rawSame.push(await rawBoot(same, paths.serialLog));
        const r = await driverBoot(d, benchSpec(g, `drv-${accel}-${i}`, accel));
        drv.push(r.bootMs);
        spawnMs.push(r.spawnMs);
        log(`${accel} rep ${i + 1}/${reps}: raw ${Math.round(raw.at(-1)!)} ms, raw+driver argv ${Math.round(rawSame.at(-1)!)} ms, driver ${Math.round(drv.at(-1)!)} ms`);
      }
      await d.close();
      rows.push([`boot to GUEST-UP: minimal raw qemu command vs QemuDriver.spawn`, accel, median(raw), median(drv), 'ms', reps, `raw ${fmt(raw)}; driver ${fmt(drv)}`]);
      rows.push([`boot to GUEST-UP: raw qemu with the driver's exact argv vs QemuDriver.spawn`, accel, median(rawSame), median(drv), 'ms', reps, `raw ${fmt(rawSame)}`]);
      rows.push([`driver overhead (driver - raw, same argv; TCG boot noise is +-1 s)`, accel, 0, median(drv) - median(rawSame), 'ms', reps, 'process supervision, QMP negotiation, -S + cont']);
      rows.push([`spawn() resolves (QEMU up, QMP negotiated, vCPUs running)`, accel, 'n/a', median(spawnMs), 'ms', reps, fmt(spawnMs)]);
    }

    const rawMig: { total: number; downtime: number }[] = [];
    const drvMig: { total: number; downtime: number }[] = [];
    for (let i = 0; i < migReps; i++) {
      rawMig.push(await rawMigration(g, dir, i));
      drvMig.push(await driverMigration(g, dir, i));
      log(`migration rep ${i + 1}/${migReps}: raw total ${rawMig.at(-1)!.total} ms downtime ${rawMig.at(-1)!.downtime} ms; driver total ${drvMig.at(-1)!.total} ms downtime ${drvMig.at(-1)!.downtime} ms`);
    }
    rows.push(['live migration total time (unix socket, 256 MiB guest)', 'tcg', median(rawMig.map((m) => m.total)), median(drvMig.map((m) => m.total)), 'ms', migReps, `raw ${fmt(rawMig.map((m) => m.total))}; driver ${fmt(drvMig.map((m) => m.total))}`]);
    rows.push(['live migration downtime (query-migrate)', 'tcg', median(rawMig.map((m) => m.downtime)), median(drvMig.map((m) => m.downtime)), 'ms', migReps, `raw ${fmt(rawMig.map((m) => m.downtime))}; driver ${fmt(drvMig.map((m) => m.downtime))}`]);

    // FakeDriver throughput (what scheduler/API scale tests can expect).
    const fake = new FakeDriver({ checkFiles: false });
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fake.spawn({ id: `f${i}`, memory: { sizeMb: 256 }, boot: { kernel: '/fake' } });
    for (let i = 0; i < n; i++) await fake.destroy(`f${i}`);
    const ops = Math.round((2 * n) / ((performance.now() - t0) / 1000));
    rows.push(['FakeDriver spawn+destroy throughput (one process)', 'fake', 'n/a', ops, 'ops/s', n, '']);

    notes.push(
      'Baseline: "raw" is qemu-system-x86_64 started directly (minimal: -nodefaults -M pc, 256 MiB, serial to a file; same argv: exactly what buildQemuArgv produced), timed from spawn to GUEST-UP on the serial log.',
      'Kumo: QemuDriver.spawn (detached shim, pidfile, QMP negotiation, -S then cont) until GUEST-UP appears in getConsoleOutput; both polled every 10 ms, alternating per repetition.',
      'Migration baseline: two raw QEMUs, `migrate` typed over QMP with default parameters; Kumo: prepareIncomingMigration + migrateOut + finishIncomingMigration. Times are QEMU\'s own total-time and downtime.',
      `Host: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${probe.qemuVersion}, kernel ${os.release()}.`,
    );
  } finally {
    lease.release();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: 'Hypervisor: boot time, driver overhead, live migration',
    columns: ['metric', 'accel', 'baseline', 'kumo', 'unit', 'runs', 'detail'],
    rows,
    notes,
  };
}

/** Markdown table for notes/README. */
export function formatBench(r: BenchResult): string {
  const head = `| ${r.columns.join(' | ')} |\n|${r.columns.map(() => '---').join('|')}|`;
  const body = r.rows.map((row) => `| ${row.join(' | ')} |`).join('\n');
  return `### ${r.title}\n\n${head}\n${body}\n\n${r.notes.map((n) => `- ${n}`).join('\n')}\n`;
}
