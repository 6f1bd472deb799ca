// QemuDriver: HypervisorDriver on real QEMU processes (KVM or TCG).
//
// State lives on disk in one directory per domain (see supervisor.ts), so any driver instance
// pointed at the same stateDir sees the same domains: that is how the agent reattaches after a
// restart. In memory we only keep QMP connections and per-domain operation queues.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  ConsoleEndpoints,
  DomainInfo,
  DomainState,
  DomainStats,
  DomainSummary,
  DriverEvent,
  ExitReason,
  HostCapabilities,
  HypervisorDriver,
  IncomingMigration,
  MigrationOptions,
  MigrationResult,
} from '../driver.js';
import {
  DeviceAlreadyExists,
  DeviceDetachTimeout,
  DeviceNotFound,
  GuestAgentUnavailable,
  DomainAlreadyExists,
  DomainNotFound,
  HostError,
  HypervisorError,
  InsufficientResources,
  InvalidArgument,
  InvalidSpec,
  InvalidState,
  MigrationFailed,
  OperationTimeout,
  SpawnFailed,
} from '../errors.js';
import { getAffinity, openTap, setAffinity, tryLoadNative } from '../native.js';
import { probeAccelerator, qemuVersion, type AccelProbeResult } from '../probe/accel-probe.js';
import {
  maxVcpusOf,
  parseDiskSpec,
  parseDomainSpec,
  parseNicSpec,
  type DiskSpec,
  type DiskSpecInput,
  type DomainSpec,
  type DomainSpecInput,
  type NicSpec,
  type NicSpecInput,
} from '../spec.js';
import { ensureTestGuest } from '../testing/test-guest.js';
import { waitUntil } from '../wait.js';
import { buildQemuArgv } from './argv.js';
import { DEFAULT_OVMF_CODE, DEFAULT_OVMF_SECBOOT_CODE, DEFAULT_OVMF_VARS } from './config/boot.js';
import type { InstancePaths } from './config/common.js';
import { diskBlockdevs, diskDevice, diskNodeNames, throttleGroupId, throttleGroupObject } from './config/drive.js';
import { dimmBackendId, dimmQmp } from './config/memory.js';
import { netdevId, netdevProps, nicDevice } from './config/nic.js';
import { QmpClient, QmpCommandError, type QmpEvent, type RunState } from './qmp-client.js';
import {
  capSerialLog,
  classifyExit,
  instancePaths,
  lastQemuError,
  livePid,
  processCpuTimeNs,
  processRssKb,
  processThreads,
  readSerial,
  spawnDetached,
  type DetachedProcess,
} from './supervisor.js';


export interface QemuDriverOptions {
  /** Root of the per-instance directories (created 0700). */
  stateDir: string;
  qemuBinary?: string;
  /**
   * auto: run the accelerator probe once (cached in <stateDir>/accel-probe.json per QEMU
   * version and kernel) and use what it chose. kvm/tcg: use that, reason "configured".
   */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** A probe result to use instead of probing (e.g. shared by several driver instances). */
  probe?: AccelProbeResult;
  /** Wrap QEMU in `timeout -s KILL <n>` (tests and benchmarks only: a leaked guest dies by itself). */
  maxLifetimeSec?: number;
  ovmfCode?: string;
  ovmfVars?: string;
  /** QMP command timeout (ms). */
  qmpTimeoutMs?: number;
  /** How long spawn waits for QEMU to come up (QMP reachable), ms. */
  startTimeoutMs?: number;
  /** Serial-log cap check period, ms (0 disables the timer; logs are still capped on access). */
  logCheckIntervalMs?: number;
}

/** Facts the driver keeps next to the spec. Written atomically. */
interface Runtime {
  accel: 'kvm' | 'tcg';
  accelReason: string;
  startedAt?: number;
  /** What the driver itself asked the process to do last (tells a crash from a requested stop). */
  intent?: 'stop' | 'destroy' | 'suspend' | 'migrate';
  /** SHUTDOWN event from the guest seen. */
  guestShutdown?: boolean;
  suspended?: boolean;
  /** Destination of an incoming migration that has not finished yet. */
  incoming?: boolean;
  /** Last observed exit (kept so getInfo after the fact still says why). */
  exitReason?: ExitReason;
  /** vCPU device ids added by setVcpus (unpluggable), in order. */
  hotVcpus?: string[];
}

interface Handle {
  id: string;
  paths: InstancePaths;
  spec: DomainSpec;
  runtime: Runtime;
  qmp: QmpClient | null;
  queue: Promise<unknown>;
  /** Set while this driver instance spawned the process (exit observable directly). */
  proc?: DetachedProcess;
}

const RUNSTATE_TO_STATE: Partial<Record<RunState, DomainState>> = {
  running: 'running',
  paused: 'paused',
  prelaunch: 'paused',
  suspended: 'paused',
  'io-error': 'paused',
  watchdog: 'paused',
  debug: 'paused',
  'save-vm': 'paused',
  'restore-vm': 'paused',
  inmigrate: 'migrating',
  'finish-migrate': 'running',
  postmigrate: 'paused',
  shutdown: 'shutoff',
  'internal-error': 'crashed',
  'guest-panicked': 'crashed',
};

function writeJsonAtomic(file: string, data: unknown): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export class QemuDriver implements HypervisorDriver {
  readonly stateDir: string;
  private readonly qemuBinary: string;
  private readonly opts: QemuDriverOptions;
  private readonly handles = new Map<string, Handle>();
  private readonly events = new EventEmitter();
  private probeResult: AccelProbeResult | null;
  private probing: Promise<AccelProbeResult> | null = null;
  private logTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: QemuDriverOptions) {
    this.opts = opts;
    this.stateDir = path.resolve(opts.stateDir);
    this.qemuBinary = opts.qemuBinary ?? 'qemu-system-x86_64';
    this.probeResult = opts.probe ?? null;
    fs.mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    this.events.setMaxListeners(0);
    const every = opts.logCheckIntervalMs ?? 5000;
    if (every > 0) {
      this.logTimer = setInterval(() => this.capAllLogs(), every);
      this.logTimer.unref();
    }
  }

  // ------------------------------------------------------------------ accel ----

  /** The accelerator decision (runs the probe once when accel is auto). */
  async accelerator(): Promise<{ accel: 'kvm' | 'tcg'; reason: string; hostCpuMask: string[] }> {
    const mode = this.opts.accel ?? 'auto';
    if (mode !== 'auto') return { accel: mode, reason: `configured: ${mode}`, hostCpuMask: this.probeResult?.hostCpuMask ?? [] };
    const p = await this.getProbe();
    return { accel: p.accel, reason: p.reason, hostCpuMask: p.hostCpuMask };
  }

  private async getProbe(): Promise<AccelProbeResult> {
    if (this.probeResult) return this.probeResult;
    this.probing ??= (async () => {
      const version = await qemuVersion(this.qemuBinary);
      const kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
      const cacheFile = path.join(this.stateDir, 'accel-probe.json');
      try {
        const c = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as AccelProbeResult & { hostKernel?: string };
        if (c.qemuVersion === version && c.hostKernel === kernel) return c;
      } catch {
        /* no cache */
      }
      const r = await probeAccelerator({ guest: ensureTestGuest(), qemuBinary: this.qemuBinary });
      writeJsonAtomic(cacheFile, { ...r, hostKernel: kernel });
      return r;
    })();
    this.probeResult = await this.probing;
    return this.probeResult;
  }

  async getCapabilities(): Promise<HostCapabilities> {
    const a = await this.accelerator();
    const native = !!tryLoadNative();
    return {
      driver: 'qemu',
      accel: a.accel,
      accelReason: a.reason,
      hypervisorVersion: await qemuVersion(this.qemuBinary),
      features: {
        fdPassing: native,
        tapInNetns: native,
        vcpuPinning: true,
        uefi: fs.existsSync(this.opts.ovmfCode ?? DEFAULT_OVMF_CODE),
        liveMigration: true,
        memoryHotplug: true,
        // No virtio-serial channel for qemu-guest-agent is put into the argv (yet).
        guestAgent: false,
      },
    };
  }

  // ------------------------------------------------------------- plumbing ----

  subscribe(listener: (e: DriverEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(domainId: string, type: DriverEvent['type'], detail?: string): void {
    this.events.emit('event', { domainId, type, detail } satisfies DriverEvent);
  }

  /** Serializes operations per domain (a failed op does not block the next one). */
  private serialize<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const h = this.handles.get(id);
    const prev = h?.queue ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    if (h) h.queue = run.catch(() => undefined);
    return run;
  }

  private loadHandle(id: string): Handle {
    const existing = this.handles.get(id);
    if (existing) return existing;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id)) throw new DomainNotFound(id);
    const paths = instancePaths(this.stateDir, id);
    let spec: DomainSpec;
    let runtime: Runtime;
    try {
      spec = JSON.parse(fs.readFileSync(paths.specFile, 'utf8')) as DomainSpec;
      runtime = JSON.parse(fs.readFileSync(paths.runtimeFile, 'utf8')) as Runtime;
    } catch {
      throw new DomainNotFound(id);
    }
    const h: Handle = { id, paths, spec, runtime, qmp: null, queue: Promise.resolve() };
    this.handles.set(id, h);
    return h;
  }

  private saveSpec(h: Handle): void {
    writeJsonAtomic(h.paths.specFile, h.spec);
  }

  private saveRuntime(h: Handle): void {
    writeJsonAtomic(h.paths.runtimeFile, h.runtime);
  }

  /** Runs `fn` on the domain's queue. */
  private withDomain<T>(id: string, fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = this.loadHandle(id);
    return this.serialize(id, () => fn(h));
  }

  private async qmpOf(h: Handle): Promise<QmpClient> {
    if (h.qmp?.isConnected) return h.qmp;
    if (!livePid(h.paths)) throw new InvalidState(h.id, 'talk to', await this.stateOf(h), ['running', 'paused', 'migrating']);
    const c = new QmpClient({ socketPath: h.paths.qmpSocket, commandTimeoutMs: this.opts.qmpTimeoutMs ?? 30_000, connectTimeoutMs: 10_000 });
    await c.connect();
    this.watch(h, c);
    h.qmp = c;
    return c;
  }

  /** Event plumbing for one connection: records guest shutdowns, notices process exit. */
  private watch(h: Handle, c: QmpClient): void {
    c.on('SHUTDOWN', (ev: QmpEvent<{ guest?: boolean; reason?: string }>) => {
      if (ev.data?.guest) {
        h.runtime.guestShutdown = true;
        this.trySaveRuntime(h);
      }
    });
    c.on('STOP', () => this.emit(h.id, 'paused'));
    c.on('RESUME', () => this.emit(h.id, 'resumed'));
    c.on('disconnect', () => {
      if (h.qmp === c) h.qmp = null;
      if (this.closed) return;
      // QEMU closing the socket means it is exiting; wait for the pid to vanish, then report.
      void (async () => {
        try {
          await waitUntil(10_000, () => !livePid(h.paths), { what: 'QEMU exit', intervalMs: 50 });
        } catch {
          return; // still alive: someone else dropped the connection
        }
        if (!fs.existsSync(h.paths.dir)) return;
        if (h.runtime.intent) return; // the operation that asked for it reports
        const reason = await this.exitReasonOf(h);
        h.runtime.exitReason = reason;
        this.trySaveRuntime(h);
        this.emit(h.id, reason.kind === 'guest-shutdown' ? 'shutoff' : 'crashed', reason.detail);
      })();
    });
  }

  private trySaveRuntime(h: Handle): void {
    try {
      if (fs.existsSync(h.paths.dir)) this.saveRuntime(h);
    } catch {
      /* instance being destroyed */
    }
  }

  private async exitReasonOf(h: Handle): Promise<ExitReason> {
    // The shim writes exit-status right after QEMU ends; give it a moment.
    try {
      await waitUntil(2000, () => fs.existsSync(h.paths.exitStatus), { what: 'exit status', intervalMs: 20 });
    } catch {
      /* classifyExit reports unknown */
    }
    return classifyExit(h.paths, h.runtime.intent, !!h.runtime.guestShutdown);
  }

  private async stateOf(h: Handle): Promise<DomainState> {
    const pid = livePid(h.paths);
    if (pid) {
      try {
        const c = h.qmp?.isConnected ? h.qmp : await this.qmpOf(h);
        const st = await c.execute('query-status');
        return RUNSTATE_TO_STATE[st.status] ?? 'running';
      } catch {
        // QMP busy/unreachable while the process lives: report from runtime facts.
        return h.runtime.incoming ? 'migrating' : 'running';
      }
    }
    if (h.runtime.suspended) return 'suspended';
    if (!h.runtime.exitReason) {
      // Just exited: the shim writes the status a moment after QEMU is gone. Decide once, then remember.
      h.runtime.exitReason = await this.exitReasonOf(h);
      this.trySaveRuntime(h);
    }
    const reason = h.runtime.exitReason;
    return reason.kind === 'guest-shutdown' || reason.kind === 'host-request' ? 'shutoff' : 'crashed';
  }

  private async requireState(h: Handle, op: string, allowed: DomainState[]): Promise<DomainState> {
    const s = await this.stateOf(h);
    if (!allowed.includes(s)) throw new InvalidState(h.id, op, s, allowed);
    return s;
  }

  private capAllLogs(): void {
    for (const h of this.handles.values()) {
      try {
        capSerialLog(h.paths, h.spec.console.logMaxBytes);
      } catch {
        /* instance gone */
      }
    }
  }

  // ---------------------------------------------------------------- spawn ----

  /** Host-side checks that need I/O (files exist, firmware present, accel constraints). */
  private checkHost(spec: DomainSpec): void {
    const mustExist = (field: string, p: string | undefined) => {
      if (p && !fs.existsSync(p)) throw new InvalidSpec(field, `${p} does not exist`);
    };
    mustExist('boot.kernel', spec.boot.kernel);
    mustExist('boot.initrd', spec.boot.initrd);
    spec.disks.forEach((d, i) => mustExist(`disks[${i}].path`, d.path));
    if (spec.machine.firmware === 'uefi') {
      const code = this.opts.ovmfCode ?? (spec.machine.secureBoot ? DEFAULT_OVMF_SECBOOT_CODE : DEFAULT_OVMF_CODE);
      if (!fs.existsSync(code)) throw new InvalidSpec('machine.firmware', `UEFI firmware ${code} not found: install the Debian package ovmf`);
    }
    if (spec.memory.hugepages) {
      const p = spec.memory.hugepages.path ?? (spec.memory.hugepages.pageSize === '1G' ? '/dev/hugepages1G' : '/dev/hugepages');
      if (!fs.existsSync(p)) throw new InvalidSpec('memory.hugepages', `${p} is not mounted (mount -t hugetlbfs and reserve vm.nr_hugepages)`);
    }
    spec.nics.forEach((n, i) => {
      if (n.tap.netns && !tryLoadNative())
        throw new InvalidSpec(`nics[${i}].tap.netns`, 'a TAP in another network namespace needs fd passing, and the native addon is not built');
    });
  }

  private binaryChecked = false;

  /** Fails early and clearly when QEMU is not installed (instead of a shell "not found" in qemu.log). */
  private assertQemuBinary(): void {
    if (this.binaryChecked) return;
    const b = this.qemuBinary;
    const found = b.includes('/')
      ? fs.existsSync(b)
      : (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && fs.existsSync(path.join(d, b)));
    if (!found) throw new HostError(`${b} not found (PATH=${process.env.PATH ?? ''}): install the Debian package qemu-system-x86.`);
    this.binaryChecked = true;
  }

  private async resolveSpec(input: DomainSpecInput): Promise<{ spec: DomainSpec; accel: 'kvm' | 'tcg'; reason: string; mask: string[] }> {
    const spec = parseDomainSpec(input);
    this.assertQemuBinary();
    const a = await this.accelerator();
    const accel = spec.machine.accel ?? a.accel;
    if (accel === 'kvm' && a.accel !== 'kvm' && (this.opts.accel ?? 'auto') === 'auto')
      throw new InvalidSpec('machine.accel', `kvm requested but this host cannot run KVM guests: ${a.reason}`);
    // Re-validate with the concrete accelerator (e.g. host-passthrough under tcg).
    const concrete = parseDomainSpec({ ...spec, machine: { ...spec.machine, accel } });
    this.checkHost(concrete);
    return { spec: concrete, accel, reason: spec.machine.accel ? `spec: ${accel}` : a.reason, mask: a.hostCpuMask };
  }

  private prepareDir(paths: InstancePaths, id: string): void {
    try {
      fs.mkdirSync(paths.dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new DomainAlreadyExists(id);
      throw new HostError(`Cannot create instance directory ${paths.dir}: ${(e as Error).message}`);
    }
    fs.chmodSync(paths.dir, 0o700);
  }

  /** Opens TAP fds for every NIC (when the addon is there). Returned fds must be closed by the caller. */
  private openNicFds(spec: DomainSpec): { perNic: Record<string, number[]>; all: number[] } {
    const perNic: Record<string, number[]> = {};
    const all: number[] = [];
    if (!tryLoadNative()) return { perNic, all };
    try {
      for (const n of spec.nics) {
        const t = openTap(n.tap.ifname, { queues: n.queues, netns: n.tap.netns });
        perNic[n.id] = t.fds;
        all.push(...t.fds);
      }
    } catch (e) {
      all.forEach((fd) => fs.closeSync(fd));
      throw e;
    }
    return { perNic, all };
  }

  /**
   * Starts QEMU for `h` (dir and spec.json already there). On failure kills whatever started;
   * the caller removes the directory.
   */
  private async startProcess(h: Handle, o: { incoming?: string; accel: 'kvm' | 'tcg'; mask: string[] }): Promise<void> {
    const { paths, spec } = h;
    for (const f of [paths.pidfile, paths.exitStatus, paths.qmpSocket, paths.consoleSocket, paths.vncSocket]) fs.rmSync(f, { force: true });
    if (spec.machine.firmware === 'uefi' && !fs.existsSync(paths.ovmfVars)) {
      fs.copyFileSync(this.opts.ovmfVars ?? DEFAULT_OVMF_VARS, paths.ovmfVars);
      fs.chmodSync(paths.ovmfVars, 0o600);
    }
    const fds = this.openNicFds(spec);
    const nicFds: Record<string, { tap: number[] }> = {};
    let next = 3;
    for (const n of spec.nics) {
      const f = fds.perNic[n.id];
      if (f) nicFds[n.id] = { tap: f.map(() => next++) };
    }
    const argv = buildQemuArgv(spec, {
      paths,
      accel: o.accel,
      hostCpuMask: o.mask,
      nicFds,
      ovmfCode: this.opts.ovmfCode,
      // -S so pinning is in place before the first guest instruction. Not for incoming
      // migration: there QEMU must autostart iff the source was running (the stream says so).
      startPaused: o.incoming === undefined,
      incoming: o.incoming,
    });
    const cmd = [this.qemuBinary, ...argv];
    if (this.opts.maxLifetimeSec) cmd.unshift('timeout', '-s', 'KILL', String(this.opts.maxLifetimeSec));
    fs.writeFileSync(path.join(paths.dir, 'cmdline'), cmd.join('\n') + '\n', { mode: 0o600 });
    h.runtime.startedAt = Date.now();
    h.runtime.intent = undefined;
    h.runtime.guestShutdown = false;
    h.runtime.exitReason = undefined;
    h.runtime.suspended = false;
    h.runtime.hotVcpus = [];
    this.saveRuntime(h);
    let proc: DetachedProcess;
    try {
      proc = spawnDetached(cmd, paths, fds.all);
    } finally {
      // QEMU has its own copies now (or failed to start).
      fds.all.forEach((fd) => fs.closeSync(fd));
    }
    h.proc = proc;
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30_000);
    // Wait for QEMU to write its pidfile and open QMP, or to die trying.
    while (!livePid(paths) || !fs.existsSync(paths.qmpSocket)) {
      if (exited) {
        await delay(20);
        throw new SpawnFailed(h.id, lastQemuError(paths) ?? 'QEMU exited immediately (no output; see qemu.log)');
      }
      if (Date.now() > deadline) throw new SpawnFailed(h.id, `QEMU did not come up within ${this.opts.startTimeoutMs ?? 30_000} ms`);
      await delay(20);
    }
    const c = new QmpClient({ socketPath: paths.qmpSocket, commandTimeoutMs: this.opts.qmpTimeoutMs ?? 30_000, connectTimeoutMs: 10_000 });
    try {
      await c.connect();
    } catch (e) {
      throw new SpawnFailed(h.id, `QMP unreachable: ${(e as Error).message}`, { cause: e });
    }
    this.watch(h, c);
    h.qmp = c;
    await this.applyPinning(h, c);
  }

  /** vCPU and emulator-thread pinning with sched_setaffinity (QEMU has no option for it). */
  private async applyPinning(h: Handle, c: QmpClient): Promise<void> {
    const pin = h.spec.cpu.pinning;
    if (!pin) return;
    const cpus = await c.execute('query-cpus-fast');
    const vcpuTids = new Set(cpus.map((x) => x['thread-id']));
    for (const x of cpus) {
      const set = pin.vcpus[String(x['cpu-index'])];
      if (set) setAffinity(x['thread-id'], set);
    }
    if (pin.emulator) {
      const pid = livePid(h.paths);
      if (pid) for (const tid of processThreads(pid)) if (!vcpuTids.has(tid)) setAffinity(tid, pin.emulator);
    }
  }

  /** Kills the process of `h` if any and waits for it to be gone. */
  private async killProcess(h: Handle): Promise<void> {
    const pid = livePid(h.paths);
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (h.proc?.shimPid && h.proc.shimPid > 0 && !pid) {
      // QEMU never wrote its pidfile: kill the shim's process group (the shim and QEMU).
      try {
        process.kill(-h.proc.shimPid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    h.qmp?.close();
    h.qmp = null;
    await waitUntil(10_000, () => !livePid(h.paths), { what: `QEMU of ${h.id} to exit after SIGKILL` });
  }

  /**
   * Deletes the instance directory once QEMU is gone. The shim writes exit-status (tmp + rename)
   * right after QEMU exits, possibly while we delete: wait for it briefly, and retry the
   * recursive delete if a file appeared underneath it.
   */
  private async removeInstanceDir(h: Handle): Promise<void> {
    if (h.runtime.startedAt) await waitUntil(2000, () => fs.existsSync(h.paths.exitStatus), { what: 'shim exit status', intervalMs: 20 }).catch(() => undefined);
    fs.rmSync(h.paths.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  }

  private async cleanupFailed(h: Handle): Promise<void> {
    h.runtime.intent = 'destroy';
    try {
      await this.killProcess(h);
    } catch {
      /* best effort */
    }
    if (h.proc) await Promise.race([h.proc.exited, delay(2000)]);
    await this.removeInstanceDir(h);
    this.handles.delete(h.id);
  }

  async spawn(input: DomainSpecInput): Promise<DomainInfo> {
    const { spec, accel, reason, mask } = await this.resolveSpec(input);
    if (this.handles.has(spec.id)) throw new DomainAlreadyExists(spec.id);
    const paths = instancePaths(this.stateDir, spec.id);
    this.prepareDir(paths, spec.id);
    const h: Handle = { id: spec.id, paths, spec, runtime: { accel, accelReason: reason }, qmp: null, queue: Promise.resolve() };
    this.handles.set(spec.id, h);
    return this.serialize(spec.id, async () => {
      try {
        this.saveSpec(h);
        await this.startProcess(h, { accel, mask });
        await h.qmp!.execute('cont');
      } catch (e) {
        // QEMU opens its QMP socket before it builds the machine, so a bad argv (unknown CPU
        // model, ...) can surface as a QMP error. If QEMU is exiting, its own message in qemu.log
        // says what to fix; read it before cleanup removes the directory.
        const qemuSaid = h.proc ? await Promise.race([h.proc.exited.then(() => lastQemuError(paths)), delay(1000).then(() => undefined)]) : undefined;
        await this.cleanupFailed(h);
        if (e instanceof HypervisorError && (e.code !== 'SpawnFailed' || !qemuSaid)) throw e;
        throw new SpawnFailed(spec.id, qemuSaid ?? (e as Error).message, { cause: e });
      }
      this.emit(h.id, 'started');
      return this.infoOf(h);
    });
  }

  private async infoOf(h: Handle): Promise<DomainInfo> {
    const state = await this.stateOf(h);
    const info: DomainInfo = { id: h.id, state, spec: h.spec, pid: livePid(h.paths) };
    if (state === 'shutoff' || state === 'crashed') info.exitReason = h.runtime.exitReason;
    return info;
  }

  // ------------------------------------------------------------ lifecycle ----

  async destroy(id: string): Promise<void> {
    const h = this.loadHandle(id);
    await this.serialize(id, async () => {
      h.runtime.intent = 'destroy';
      this.trySaveRuntime(h);
      const c = h.qmp?.isConnected ? h.qmp : livePid(h.paths) ? await this.qmpOf(h).catch(() => null) : null;
      if (c) {
        // quit flushes disk caches; SIGKILL if QEMU does not go within 3 s.
        await c.execute('quit', undefined, { timeoutMs: 3000 }).catch(() => undefined);
        await waitUntil(3000, () => !livePid(h.paths), { what: 'quit' }).catch(() => undefined);
      }
      await this.killProcess(h);
      await this.removeInstanceDir(h);
      this.handles.delete(id);
    });
    this.emit(id, 'destroyed');
  }

  async shutdown(id: string, opts?: { timeoutMs?: number }): Promise<{ method: 'acpi' | 'quit' | 'kill' }> {
    return this.withDomain(id, async (h) => {
      await this.requireState(h, 'shut down', ['running', 'paused']);
      const r = await this.gracefulStop(h, opts?.timeoutMs ?? 60_000, true);
      this.emit(id, 'shutoff', `stopped via ${r.method}`);
      return r;
    });
  }

  /**
   * ACPI powerdown -> wait `timeoutMs` -> (escalate) QMP quit -> 5 s -> SIGKILL.
   * With escalate=false, returns {method: 'acpi'} only if the guest complied, else throws.
   */
  private async gracefulStop(h: Handle, timeoutMs: number, escalate: boolean): Promise<{ method: 'acpi' | 'quit' | 'kill' }> {
    const c = await this.qmpOf(h);
    // Marks the coming exit as requested, so it is not reported as a crash.
    h.runtime.intent = 'stop';
    this.saveRuntime(h);
    const st = await c.execute('query-status');
    if (st.status !== 'running' && escalate) {
      // A paused guest cannot react to the power button.
      await c.execute('cont').catch(() => undefined);
    }
    await c.execute('system_powerdown');
    try {
      await waitUntil(timeoutMs, () => !livePid(h.paths), { what: 'guest poweroff', intervalMs: 100 });
      h.runtime.exitReason = await this.exitReasonOf(h);
      this.saveRuntime(h);
      return { method: 'acpi' };
    } catch (e) {
      if (!escalate) {
        h.runtime.intent = undefined;
        this.saveRuntime(h);
        throw e;
      }
    }
    const c2 = await this.qmpOf(h).catch(() => null);
    if (c2) {
      await c2.execute('quit', undefined, { timeoutMs: 5000 }).catch(() => undefined);
      try {
        await waitUntil(5000, () => !livePid(h.paths), { what: 'quit' });
        h.runtime.exitReason = await this.exitReasonOf(h);
        this.saveRuntime(h);
        return { method: 'quit' };
      } catch {
        /* escalate */
      }
    }
    await this.killProcess(h);
    h.runtime.exitReason = await this.exitReasonOf(h);
    this.saveRuntime(h);
    return { method: 'kill' };
  }

  async start(id: string): Promise<DomainInfo> {
    return this.withDomain(id, async (h) => {
      await this.requireState(h, 'start', ['shutoff', 'crashed']);
      const a = await this.accelerator();
      try {
        await this.startProcess(h, { accel: h.spec.machine.accel ?? a.accel, mask: a.hostCpuMask });
        await h.qmp!.execute('cont');
      } catch (e) {
        await this.killProcess(h).catch(() => undefined);
        h.runtime.exitReason = { kind: 'error', detail: (e as Error).message };
        this.trySaveRuntime(h);
        throw e instanceof HypervisorError ? e : new SpawnFailed(id, (e as Error).message, { cause: e });
      }
      this.emit(id, 'started');
      return this.infoOf(h);
    });
  }

  async reboot(id: string, opts?: { hard?: boolean; timeoutMs?: number }): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'reboot', ['running']);
      const c = await this.qmpOf(h);
      if (opts?.hard) {
        await c.execute('system_reset');
      } else {
        const stopped = await this.gracefulStop(h, opts?.timeoutMs ?? 60_000, false).then(
          () => true,
          () => false,
        );
        if (stopped) {
          const a = await this.accelerator();
          await this.startProcess(h, { accel: h.spec.machine.accel ?? a.accel, mask: a.hostCpuMask });
          await h.qmp!.execute('cont');
        } else {
          await (await this.qmpOf(h)).execute('system_reset');
        }
      }
      this.emit(id, 'rebooted', opts?.hard ? 'hard' : 'soft');
    });
  }

  async pause(id: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'pause', ['running']);
      await (await this.qmpOf(h)).execute('stop');
    });
  }

  async resume(id: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'resume', ['paused']);
      await (await this.qmpOf(h)).execute('cont');
    });
  }

  // ------------------------------------------------------ suspend/restore ----

  /**
   * Streams the migration data of `c` into `file`. Preferred: pass an fd of the file to QEMU
   * (getfd + migrate fd:NAME), so QEMU writes it directly. Without the addon: QEMU connects to
   * a unix socket we serve and we copy into the file.
   */
  private async migrateToFile(h: Handle, c: QmpClient, file: string): Promise<void> {
    await c.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    if (tryLoadNative()) {
      const fd = fs.openSync(file, 'w', 0o600);
      try {
        await c.sendFd('kumo-suspend', fd);
      } finally {
        fs.closeSync(fd);
      }
      await c.execute('migrate', { uri: 'fd:kumo-suspend' });
      await this.waitMigration(c, 600_000);
      return;
    }
    const sockPath = path.join(h.paths.dir, 'suspend.sock');
    fs.rmSync(sockPath, { force: true });
    const out = fs.createWriteStream(file, { mode: 0o600 });
    // QEMU reports "completed" once it has written the last byte to the socket, not once we have
    // read it: the file is whole only when the socket has ended and the pipe has flushed it.
    let streamError: Error | undefined;
    out.once('error', (e) => (streamError = e));
    const server = net.createServer((s) => {
      s.once('error', (e) => out.destroy(e));
      s.pipe(out);
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
    try {
      await c.execute('migrate', { uri: `unix:${sockPath}` });
      await this.waitMigration(c, 600_000);
      await waitUntil(
        60_000,
        () => {
          if (streamError) throw streamError;
          return out.writableFinished;
        },
        { what: `the memory stream to reach ${file}`, intervalMs: 20 },
      );
    } finally {
      server.close();
      if (!out.writableFinished) out.destroy();
      fs.rmSync(sockPath, { force: true });
    }
  }

  private async waitMigration(c: QmpClient, timeoutMs: number, opts?: MigrationOptions): Promise<MigrationResult> {
    let forced = false;
    const info = await waitUntil(
      timeoutMs,
      async () => {
        // Abort: the caller's catch sends migrate_cancel. Force: pause the vCPUs once so the copy converges (libvirt's suspend for Nova's force_complete).
        if (opts?.signal?.aborted) throw new Error('migration cancelled on request (source keeps running)');
        if (opts?.forceComplete?.aborted && !forced) {
          forced = true;
          await c.execute('stop');
        }
        const m = await c.execute('query-migrate');
        if (m.status === 'failed' || m.status === 'cancelled') throw new Error(m['error-desc'] ?? `migration ${m.status}`);
        return m.status === 'completed' ? m : null;
      },
      { what: 'migration to complete', intervalMs: 50 },
    );
    // QEMU flips the status to "completed" a moment before it fills in total-time/downtime
    // (migration_calculate_complete runs after the status change): re-read until they are set.
    let final = info;
    for (let i = 0; i < 40 && !final['total-time']; i++) {
      await delay(25);
      final = await c.execute('query-migrate');
    }
    return {
      totalTimeMs: final['total-time'] ?? 0,
      downtimeMs: final.downtime ?? 0,
      setupTimeMs: final['setup-time'],
      transferredBytes: final.ram?.transferred ?? 0,
    };
  }

  async suspend(id: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'suspend', ['running', 'paused']);
      const c = await this.qmpOf(h);
      await c.execute('stop');
      try {
        await this.migrateToFile(h, c, h.paths.stateFile);
      } catch (e) {
        await c.execute('cont').catch(() => undefined);
        fs.rmSync(h.paths.stateFile, { force: true });
        throw new HostError(`Saving the memory of ${id} to ${h.paths.stateFile} failed: ${(e as Error).message}`, { cause: e });
      }
      h.runtime.intent = 'suspend';
      this.saveRuntime(h);
      await c.execute('quit').catch(() => undefined);
      await waitUntil(10_000, () => !livePid(h.paths), { what: 'QEMU exit after suspend' });
      h.runtime.suspended = true;
      h.runtime.exitReason = undefined;
      this.saveRuntime(h);
      h.qmp = null;
    });
    this.emit(id, 'suspended');
  }

  async restore(id: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'restore', ['suspended']);
      const a = await this.accelerator();
      try {
        await this.startProcess(h, { accel: h.spec.machine.accel ?? a.accel, mask: a.hostCpuMask, incoming: 'defer' });
        const c = h.qmp!;
        await c.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
        if (tryLoadNative()) {
          const fd = fs.openSync(h.paths.stateFile, 'r');
          try {
            await c.sendFd('kumo-restore', fd);
          } finally {
            fs.closeSync(fd);
          }
          await c.execute('migrate-incoming', { uri: 'fd:kumo-restore' });
        } else {
          const sockPath = path.join(h.paths.dir, 'restore.sock');
          fs.rmSync(sockPath, { force: true });
          await c.execute('migrate-incoming', { uri: `unix:${sockPath}` });
          await waitUntil(10_000, () => fs.existsSync(sockPath), { what: 'restore socket' });
          const s = net.createConnection(sockPath);
          const src = fs.createReadStream(h.paths.stateFile);
          // A failed load shows as QEMU leaving the paused-wait below; these only must not throw.
          s.once('error', () => src.destroy());
          src.once('error', () => s.destroy());
          src.pipe(s);
        }
        // The saved VM was paused (suspend stops it first), so the restored one is paused too.
        await waitUntil(600_000, async () => (await c.execute('query-status')).status === 'paused', { what: 'restore to load', intervalMs: 50 });
        await c.execute('cont');
      } catch (e) {
        h.runtime.intent = 'destroy';
        await this.killProcess(h).catch(() => undefined);
        h.runtime.intent = undefined;
        h.runtime.suspended = true;
        this.trySaveRuntime(h);
        throw e instanceof HypervisorError ? e : new HostError(`Restoring ${id} failed: ${(e as Error).message}`, { cause: e });
      }
      fs.rmSync(h.paths.stateFile, { force: true });
      h.runtime.suspended = false;
      this.saveRuntime(h);
    });
    this.emit(id, 'started', 'restored');
  }

  // ----------------------------------------------------------- hot-plug ----

  private waitDeviceDeleted(c: QmpClient, deviceId: string, timeoutMs: number): Promise<unknown> {
    return c.waitForEvent('DEVICE_DELETED', timeoutMs, (ev) => ev.data?.device === deviceId);
  }

  private deviceIds(spec: DomainSpec): Set<string> {
    return new Set([...spec.disks.map((d) => d.id), ...spec.nics.map((n) => n.id), ...spec.memory.dimms.map((d) => d.id)]);
  }

  async attachDisk(id: string, input: DiskSpecInput): Promise<void> {
    const disk = parseDiskSpec(input);
    await this.withDomain(id, async (h) => {
      const state = await this.requireState(h, 'attach a disk to', ['running', 'paused', 'shutoff']);
      if (this.deviceIds(h.spec).has(disk.id)) throw new DeviceAlreadyExists(id, disk.id);
      const next = parseDomainSpec({ ...h.spec, disks: [...h.spec.disks, disk] });
      this.checkHost(next);
      if (state !== 'shutoff') await this.hotplugDisk(h, disk, next);
      h.spec = next;
      this.saveSpec(h);
    });
    this.emit(id, 'device-added', disk.id);
  }

  private async hotplugDisk(h: Handle, disk: DiskSpec, next: DomainSpec): Promise<void> {
    const c = await this.qmpOf(h);
    if (disk.bus === 'ide') throw new InvalidArgument('disk.bus', 'IDE disks cannot be hot-plugged; use virtio-blk or virtio-scsi');
    if (disk.bus === 'virtio-scsi' && !h.spec.disks.some((d) => d.bus === 'virtio-scsi'))
      await c.execute('device_add', { driver: 'virtio-scsi-pci', id: 'scsi0' });
    const added: string[] = [];
    let groupAdded: string | null = null;
    try {
      if (disk.throttle) {
        const gid = throttleGroupId(disk);
        const exists = h.spec.disks.some((d) => d.throttle && throttleGroupId(d) === gid);
        if (!exists) {
          const { 'qom-type': qomType, id: oid, ...props } = throttleGroupObject(gid, disk.throttle);
          await c.execute('object-add', { 'qom-type': qomType, id: oid, ...props });
          groupAdded = gid;
        }
      }
      for (const b of diskBlockdevs(disk)) {
        await c.execute('blockdev-add', b);
        added.push(String(b['node-name']));
      }
      await c.execute('device_add', diskDevice(next, disk));
    } catch (e) {
      for (const n of added.reverse()) await c.execute('blockdev-del', { 'node-name': n }).catch(() => undefined);
      if (groupAdded) await c.execute('object-del', { id: groupAdded }).catch(() => undefined);
      if (e instanceof QmpCommandError) throw new InvalidSpec(`disk ${disk.id}`, `QEMU refused it: ${e.desc}`);
      throw e;
    }
  }

  async detachDisk(id: string, diskId: string, opts?: { timeoutMs?: number }): Promise<void> {
    await this.withDomain(id, async (h) => {
      const state = await this.requireState(h, 'detach a disk from', ['running', 'shutoff']);
      const disk = h.spec.disks.find((d) => d.id === diskId);
      if (!disk) throw new DeviceNotFound(id, diskId);
      if (state === 'running') {
        const c = await this.qmpOf(h);
        const timeoutMs = opts?.timeoutMs ?? 30_000;
        const gone = this.waitDeviceDeleted(c, diskId, timeoutMs);
        gone.catch(() => undefined);
        await c.execute('device_del', { id: diskId });
        try {
          await gone;
        } catch {
          throw new DeviceDetachTimeout(id, diskId, timeoutMs);
        }
        for (const n of diskNodeNames(disk).reverse()) await c.execute('blockdev-del', { 'node-name': n }).catch(() => undefined);
        if (disk.throttle) {
          const gid = throttleGroupId(disk);
          if (!h.spec.disks.some((d) => d.id !== diskId && d.throttle && throttleGroupId(d) === gid))
            await c.execute('object-del', { id: gid }).catch(() => undefined);
        }
      }
      h.spec = { ...h.spec, disks: h.spec.disks.filter((d) => d.id !== diskId) };
      this.saveSpec(h);
    });
    this.emit(id, 'device-removed', diskId);
  }

  async attachNic(id: string, input: NicSpecInput): Promise<void> {
    const nic = parseNicSpec(input);
    await this.withDomain(id, async (h) => {
      const state = await this.requireState(h, 'attach a NIC to', ['running', 'paused', 'shutoff']);
      if (this.deviceIds(h.spec).has(nic.id)) throw new DeviceAlreadyExists(id, nic.id);
      const next = parseDomainSpec({ ...h.spec, nics: [...h.spec.nics, nic] });
      this.checkHost(next);
      if (state !== 'shutoff') await this.hotplugNic(h, nic);
      h.spec = next;
      this.saveSpec(h);
    });
    this.emit(id, 'device-added', nic.id);
  }

  private async hotplugNic(h: Handle, nic: NicSpec): Promise<void> {
    const c = await this.qmpOf(h);
    let fdNames: string[] | undefined;
    if (tryLoadNative()) {
      const t = openTap(nic.tap.ifname, { queues: nic.queues, netns: nic.tap.netns });
      try {
        fdNames = [];
        for (let i = 0; i < t.fds.length; i++) {
          const name = `${netdevId(nic)}-q${i}`;
          await c.sendFd(name, t.fds[i]!);
          fdNames.push(name);
        }
      } finally {
        t.fds.forEach((fd) => fs.closeSync(fd));
      }
    }
    const props = netdevProps(nic, fdNames ? { tap: fdNames } : undefined);
    let netdevAdded = false;
    try {
      await c.execute('netdev_add', props);
      netdevAdded = true;
      await c.execute('device_add', nicDevice(nic));
    } catch (e) {
      if (netdevAdded) await c.execute('netdev_del', { id: netdevId(nic) }).catch(() => undefined);
      for (const n of fdNames ?? []) await c.execute('closefd', { fdname: n }).catch(() => undefined);
      if (e instanceof QmpCommandError) throw new InvalidSpec(`nic ${nic.id}`, `QEMU refused it: ${e.desc}`);
      throw e;
    }
  }

  async detachNic(id: string, nicId: string, opts?: { timeoutMs?: number }): Promise<void> {
    await this.withDomain(id, async (h) => {
      const state = await this.requireState(h, 'detach a NIC from', ['running', 'shutoff']);
      const nic = h.spec.nics.find((n) => n.id === nicId);
      if (!nic) throw new DeviceNotFound(id, nicId);
      if (state === 'running') {
        const c = await this.qmpOf(h);
        const timeoutMs = opts?.timeoutMs ?? 30_000;
        const gone = this.waitDeviceDeleted(c, nicId, timeoutMs);
        gone.catch(() => undefined);
        await c.execute('device_del', { id: nicId });
        try {
          await gone;
        } catch {
          throw new DeviceDetachTimeout(id, nicId, timeoutMs);
        }
        await c.execute('netdev_del', { id: netdevId(nic) }).catch(() => undefined);
      }
      h.spec = { ...h.spec, nics: h.spec.nics.filter((n) => n.id !== nicId) };
      this.saveSpec(h);
    });
    this.emit(id, 'device-removed', nicId);
  }

  async setVcpus(id: string, count: number, opts?: { timeoutMs?: number }): Promise<void> {
    await this.withDomain(id, async (h) => {
      const max = maxVcpusOf(h.spec);
      if (!Number.isInteger(count) || count < 1 || count > max) throw new InvalidArgument('count', `must be an integer in 1..${max} (cpu.maxVcpus)`);
      await this.requireState(h, 'change vCPUs of', ['running']);
      const c = await this.qmpOf(h);
      let current = (await c.execute('query-cpus-fast')).length;
      const hot = h.runtime.hotVcpus ?? [];
      while (current < count) {
        const slots = await c.execute('query-hotpluggable-cpus');
        const free = slots.filter((s) => !s['qom-path']).sort((a, b) => (a.props['socket-id'] ?? 0) - (b.props['socket-id'] ?? 0) || (a.props['core-id'] ?? 0) - (b.props['core-id'] ?? 0) || (a.props['thread-id'] ?? 0) - (b.props['thread-id'] ?? 0));
        const slot = free[0];
        if (!slot) throw new InsufficientResources(`No free vCPU slot on ${id} (maxVcpus ${max})`);
        const devId = `vcpu${current}`;
        await c.execute('device_add', { driver: slot.type, id: devId, ...slot.props });
        hot.push(devId);
        current++;
      }
      while (current > count) {
        const devId = hot.at(-1);
        if (!devId) throw new InvalidArgument('count', `only hot-plugged vCPUs can be removed; ${id} booted with ${current}`);
        const timeoutMs = opts?.timeoutMs ?? 30_000;
        await c.execute('device_del', { id: devId });
        // For CPUs QEMU 7.2 only reports DEVICE_DELETED for the vCPU's lapic child (no device
        // id), so watch the vCPU list instead of waiting for an event.
        const qomPath = `/machine/peripheral/${devId}`;
        try {
          await waitUntil(timeoutMs, async () => !(await c.execute('query-cpus-fast')).some((x) => x['qom-path'] === qomPath), { what: `vCPU ${devId} removal`, intervalMs: 100 });
        } catch {
          throw new DeviceDetachTimeout(id, devId, timeoutMs);
        }
        hot.pop();
        current--;
      }
      h.runtime.hotVcpus = hot;
      this.saveRuntime(h);
      // The definition follows, so a restart or migration target gets the same count.
      h.spec = { ...h.spec, cpu: { ...h.spec.cpu, vcpus: count } };
      this.saveSpec(h);
    });
  }

  async setMemory(id: string, targetMb: number): Promise<void> {
    await this.withDomain(id, async (h) => {
      const total = h.spec.memory.sizeMb + h.spec.memory.dimms.reduce((a, d) => a + d.sizeMb, 0);
      if (!Number.isInteger(targetMb) || targetMb < 1 || targetMb > total) throw new InvalidArgument('targetMb', `must be an integer in 1..${total} (current RAM)`);
      if (!h.spec.memory.balloon) throw new InvalidArgument('targetMb', `domain ${id} has no balloon device (memory.balloon is false)`);
      await this.requireState(h, 'set the memory of', ['running', 'paused']);
      await (await this.qmpOf(h)).execute('balloon', { value: targetMb * 1024 * 1024 });
    });
  }

  async addMemory(id: string, sizeMb: number): Promise<string> {
    return this.withDomain(id, async (h) => {
      if (!Number.isInteger(sizeMb) || sizeMb < 1) throw new InvalidArgument('sizeMb', 'must be a positive integer');
      await this.requireState(h, 'add memory to', ['running', 'paused']);
      const m = h.spec.memory;
      const used = m.sizeMb + m.dimms.reduce((a, d) => a + d.sizeMb, 0);
      if (m.dimms.length >= m.slots) throw new InsufficientResources(`No free memory slot on ${id} (${m.slots} slots, ${m.dimms.length} used)`);
      if (!m.maxMb || used + sizeMb > m.maxMb) throw new InsufficientResources(`Adding ${sizeMb} MiB to ${id} would exceed memory.maxMb (${m.maxMb ?? 'unset'}; in use ${used})`);
      let n = m.dimms.length;
      while (m.dimms.some((d) => d.id === `dimm${n}`)) n++;
      const dimm = { id: `dimm${n}`, sizeMb };
      const q = dimmQmp(h.spec, dimm);
      const c = await this.qmpOf(h);
      await c.execute('object-add', q.object);
      try {
        await c.execute('device_add', q.device);
      } catch (e) {
        await c.execute('object-del', { id: dimmBackendId(dimm) }).catch(() => undefined);
        throw e instanceof QmpCommandError ? new InsufficientResources(`QEMU refused the DIMM: ${e.desc}`) : e;
      }
      h.spec = { ...h.spec, memory: { ...m, dimms: [...m.dimms, dimm] } };
      this.saveSpec(h);
      return dimm.id;
    });
  }

  // ------------------------------------------------------------ migration ----

  async prepareIncomingMigration(input: DomainSpecInput, opts?: { transport?: 'unix' | 'tcp' }): Promise<IncomingMigration> {
    const { spec, accel, reason, mask } = await this.resolveSpec(input);
    if (this.handles.has(spec.id)) throw new DomainAlreadyExists(spec.id);
    const paths = instancePaths(this.stateDir, spec.id);
    this.prepareDir(paths, spec.id);
    const h: Handle = { id: spec.id, paths, spec, runtime: { accel, accelReason: reason, incoming: true }, qmp: null, queue: Promise.resolve() };
    this.handles.set(spec.id, h);
    return this.serialize(spec.id, async () => {
      try {
        this.saveSpec(h);
        await this.startProcess(h, { accel, mask, incoming: 'defer' });
        h.runtime.incoming = true;
        this.saveRuntime(h);
        const c = h.qmp!;
        await c.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
        let uri: string;
        if ((opts?.transport ?? 'unix') === 'unix') {
          uri = `unix:${path.join(paths.dir, 'migrate-in.sock')}`;
          await c.execute('migrate-incoming', { uri });
        } else {
          uri = await this.listenTcp(c);
        }
        return { uri };
      } catch (e) {
        await this.cleanupFailed(h);
        if (e instanceof HypervisorError) throw e;
        throw new SpawnFailed(spec.id, `incoming migration setup failed: ${(e as Error).message}`, { cause: e });
      }
    });
  }

  /** Picks a free loopback port (bind :0, close, hand it to QEMU; retry on a race). */
  private async listenTcp(c: QmpClient): Promise<string> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await new Promise<number>((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(p));
        });
      });
      const uri = `tcp:127.0.0.1:${port}`;
      try {
        await c.execute('migrate-incoming', { uri });
        return uri;
      } catch (e) {
        if (!(e instanceof QmpCommandError) || !/Address already in use|Failed to bind/i.test(e.desc)) throw e;
      }
    }
    throw new HostError('Could not find a free 127.0.0.1 port for the incoming migration');
  }

  async migrateOut(id: string, uri: string, opts?: MigrationOptions): Promise<MigrationResult> {
    if (!/^(unix:\/|tcp:)/.test(uri)) throw new InvalidArgument('uri', `${uri} is not a QEMU migration URI (unix:/path or tcp:host:port)`);
    return this.withDomain(id, async (h) => {
      await this.requireState(h, 'migrate', ['running', 'paused']);
      const c = await this.qmpOf(h);
      await c.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
      const params: Record<string, unknown> = {};
      if (opts?.maxDowntimeMs !== undefined) params['downtime-limit'] = opts.maxDowntimeMs;
      if (opts?.maxBandwidth !== undefined) params['max-bandwidth'] = opts.maxBandwidth;
      if (Object.keys(params).length) await c.execute('migrate-set-parameters', params);
      const timeoutMs = opts?.timeoutMs ?? 300_000;
      await c.execute('migrate', { uri });
      let result: MigrationResult;
      try {
        result = await this.waitMigration(c, timeoutMs, opts);
      } catch (e) {
        await c.execute('migrate_cancel').catch(() => undefined);
        // A failed pre-copy migration leaves the source running (or paused, if it was).
        throw new MigrationFailed(id, e instanceof OperationTimeout ? `not completed within ${timeoutMs} ms (cancelled; source keeps running)` : (e as Error).message, { cause: e });
      }
      // The destination owns the guest now: end the source.
      h.runtime.intent = 'migrate';
      this.saveRuntime(h);
      await c.execute('quit').catch(() => undefined);
      await this.killProcess(h).catch(() => undefined);
      await this.removeInstanceDir(h);
      this.handles.delete(id);
      this.emit(id, 'migrated-out', uri);
      return result;
    });
  }

  async finishIncomingMigration(id: string, opts?: { timeoutMs?: number }): Promise<DomainInfo> {
    return this.withDomain(id, async (h) => {
      const timeoutMs = opts?.timeoutMs ?? 300_000;
      try {
        const c = await this.qmpOf(h);
        await waitUntil(
          timeoutMs,
          async () => {
            const st = await c.execute('query-status');
            if (st.status === 'running' || st.status === 'paused') return true;
            const m = await c.execute('query-migrate');
            if (m.status === 'failed') throw new Error(m['error-desc'] ?? 'incoming migration failed');
            return false;
          },
          { what: 'incoming migration', intervalMs: 50 },
        );
      } catch (e) {
        const detail = livePid(h.paths) ? (e as Error).message : `destination QEMU exited: ${lastQemuError(h.paths) ?? (e as Error).message}`;
        await this.cleanupFailed(h);
        throw new MigrationFailed(id, detail, { cause: e });
      }
      h.runtime.incoming = false;
      this.saveRuntime(h);
      this.emit(id, 'migrated-in');
      return this.infoOf(h);
    });
  }

  // ------------------------------------------------------------ queries ----

  async getInfo(id: string): Promise<DomainInfo> {
    return this.withDomain(id, (h) => this.infoOf(h));
  }

  async getStats(id: string): Promise<DomainStats> {
    return this.withDomain(id, async (h) => {
      const state = await this.stateOf(h);
      const pid = livePid(h.paths);
      const m = h.spec.memory;
      const currentMb = m.sizeMb + m.dimms.reduce((a, d) => a + d.sizeMb, 0);
      const stats: DomainStats = {
        id,
        state,
        accel: h.runtime.accel,
        accelReason: h.runtime.accelReason,
        vcpus: [],
        cpuTimeNs: pid ? processCpuTimeNs(pid) : 0,
        memory: { currentMb, maxMb: m.maxMb, rssKb: pid ? processRssKb(pid) : undefined },
        disks: [],
        nics: h.spec.nics.map((n) => ({ id: n.id, ifname: n.tap.ifname, ...nicCounters(n) })),
        uptimeMs: pid && h.runtime.startedAt ? Date.now() - h.runtime.startedAt : 0,
      };
      if (!pid) return stats;
      const c = await this.qmpOf(h);
      // The accelerator QEMU really uses, not just what we asked for.
      const kvm = await c.execute('query-kvm');
      stats.accel = kvm.enabled ? 'kvm' : 'tcg';
      for (const v of await c.execute('query-cpus-fast')) {
        let affinity: number[] | undefined;
        try {
          affinity = getAffinity(v['thread-id']);
        } catch {
          affinity = undefined;
        }
        stats.vcpus.push({ index: v['cpu-index'], threadId: v['thread-id'], affinity });
      }
      if (m.balloon) {
        try {
          stats.memory.balloonMb = Math.round((await c.execute('query-balloon')).actual / (1024 * 1024));
        } catch {
          /* balloon driver not loaded in the guest yet */
        }
      }
      const bs = await c.execute('query-blockstats', { 'query-nodes': false });
      for (const d of h.spec.disks) {
        const s = bs.find((b) => b.qdev === d.id || b.qdev?.endsWith(`/${d.id}/virtio-backend`) || b.qdev?.includes(`/${d.id}/`));
        if (s) stats.disks.push({ id: d.id, rdBytes: s.stats.rd_bytes, wrBytes: s.stats.wr_bytes, rdOps: s.stats.rd_operations, wrOps: s.stats.wr_operations });
        else stats.disks.push({ id: d.id, rdBytes: 0, wrBytes: 0, rdOps: 0, wrOps: 0 });
      }
      return stats;
    });
  }

  async setUserPassword(id: string, _user: string, _password: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'set a password in', ['running']);
      // The argv has no org.qemu.guest_agent.0 channel, so there is nobody in the guest to ask.
      throw new GuestAgentUnavailable(id, 'QEMU guest agent is not enabled (this driver does not add a qemu-guest-agent channel to domains yet), so passwords cannot be set from the host.');
    });
  }

  async injectNmi(id: string): Promise<void> {
    await this.withDomain(id, async (h) => {
      await this.requireState(h, 'inject an NMI into', ['running', 'paused']);
      // QMP inject-nmi: an NMI to every vCPU (what libvirt's virDomainInjectNMI does for Nova).
      await (await this.qmpOf(h)).execute('inject-nmi');
    });
  }

  async getConsole(id: string): Promise<ConsoleEndpoints> {
    const h = this.loadHandle(id);
    return {
      serialSocket: h.paths.consoleSocket,
      vncSocket: h.spec.console.vnc ? h.paths.vncSocket : undefined,
      serialLog: h.paths.serialLog,
    };
  }

  async getConsoleOutput(id: string, opts?: { maxBytes?: number }): Promise<string> {
    const h = this.loadHandle(id);
    capSerialLog(h.paths, h.spec.console.logMaxBytes);
    return readSerial(h.paths, opts?.maxBytes ?? 64 * 1024);
  }

  async listDomains(): Promise<DomainSummary[]> {
    const out: DomainSummary[] = [];
    for (const name of fs.readdirSync(this.stateDir)) {
      const paths = instancePaths(this.stateDir, name);
      if (!fs.existsSync(paths.specFile) || !fs.existsSync(paths.runtimeFile)) continue;
      try {
        const h = this.loadHandle(name);
        out.push({ id: name, state: await this.stateOf(h), pid: livePid(h.paths) });
      } catch {
        /* being created/destroyed concurrently */
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async listRunning(): Promise<DomainSummary[]> {
    return (await this.listDomains()).filter((d) => d.pid !== undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.logTimer) clearInterval(this.logTimer);
    for (const h of this.handles.values()) {
      h.qmp?.close();
      h.qmp = null;
    }
    this.handles.clear();
  }
}

function nicCounters(n: NicSpec): { rxBytes?: number; txBytes?: number } {
  // Host-side counters of the TAP, when it is in our namespace (tx of the TAP = rx of the guest).
  try {
    const base = `/sys/class/net/${n.tap.ifname}/statistics`;
    if (n.tap.netns) return {};
    return { rxBytes: Number(fs.readFileSync(`${base}/tx_bytes`, 'utf8')), txBytes: Number(fs.readFileSync(`${base}/rx_bytes`, 'utf8')) };
  } catch {
    return {};
  }
}
