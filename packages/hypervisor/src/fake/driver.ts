// FakeDriver: an in-memory HypervisorDriver (cf. nova/virt/fake.py), which "documents the
// semantics of real hypervisor connections". Same validation, state machine and errors as
// QemuDriver (both pass test/driver.contract.ts); no processes, no timers, O(1) per call, so
// one process can serve hundreds of fake hosts with thousands of domains for scheduler and
// API scale tests.
//
// Driver instances that share a FakeHostStore see the same domains, which is how tests model
// an agent restart (new driver instance, same host). Live migration between fake hosts goes
// through a process-wide registry of incoming URIs.
//
// The one real thing a fake domain has is its VNC console: when a domain with console.vnc is
// asked for its console, a FakeVncServer (fake/vnc.ts) starts listening on a unix socket under
// `vncDir`, so console proxies can be tested end to end without QEMU. It starts on demand, so
// thousands of fake domains cost no sockets.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  Accelerator,
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
  DeviceNotFound,
  DomainAlreadyExists,
  DomainNotFound,
  InsufficientResources,
  InvalidArgument,
  InvalidSpec,
  InvalidState,
  MigrationFailed,
} from '../errors.js';
import { maxVcpusOf, parseDiskSpec, parseDomainSpec, parseNicSpec, type DiskSpecInput, type DomainSpec, type DomainSpecInput, type NicSpecInput } from '../spec.js';
import { waitUntil } from '../wait.js';
import { FakeVncServer } from './vnc.js';

/** Marker the fake "guest" writes to its console on every boot. */
export const FAKE_BOOT_MARKER = 'FAKE-BOOT';

export interface FakeDomain {
  spec: DomainSpec;
  state: DomainState;
  bootCount: number;
  console: string[];
  startedAt: number;
  cpuBaseNs: number;
  balloonMb?: number;
  hotVcpus: number;
  exitReason?: ExitReason;
  /** Passwords set through the (simulated) guest agent, by guest user; a test hook. */
  passwords?: Record<string, string>;
  /** NMIs injected (injectNmi); a test hook — the fake guest does nothing with them. */
  nmiCount?: number;
}

/** One fake host's domains; share it between driver instances to simulate a restart. */
export class FakeHostStore {
  readonly domains = new Map<string, FakeDomain>();
}

export interface FakeDriverOptions {
  /** Host name (appears in migration URIs). */
  host?: string;
  store?: FakeHostStore;
  accel?: Accelerator;
  /** Check that kernel/initrd/disk paths exist, like QemuDriver (default true). */
  checkFiles?: boolean;
  /** Host capacity; spawning past it throws InsufficientResources. Default unlimited. */
  capacity?: { vcpus: number; memoryMb: number };
  /** How long an outgoing live migration takes (default 0: at once); abort/force-complete act within it. */
  migrationMs?: number;
  /**
   * Directory of the fake VNC sockets (default `<tmpdir>/kumo-fake-vnc-<pid>`); false: getConsole
   * names a `fake:` path nobody listens on (no socket at all).
   */
  vncDir?: string | false;
}

const incomingRegistry = new Map<string, { driver: FakeDriver; id: string }>();

export class FakeDriver implements HypervisorDriver {
  readonly host: string;
  readonly store: FakeHostStore;
  private readonly accel: Accelerator;
  private readonly checkFiles: boolean;
  private readonly capacity?: { vcpus: number; memoryMb: number };
  /** Settable by tests (FakeDriverOptions.migrationMs). */
  migrationMs: number;
  private readonly events = new EventEmitter();
  private readonly vncDir: string | false;
  private readonly vncServers = new Map<string, Promise<FakeVncServer>>();

  constructor(opts: FakeDriverOptions = {}) {
    this.host = opts.host ?? 'fake-host';
    this.store = opts.store ?? new FakeHostStore();
    this.accel = opts.accel ?? 'kvm';
    this.checkFiles = opts.checkFiles ?? true;
    this.capacity = opts.capacity;
    this.migrationMs = opts.migrationMs ?? 0;
    this.vncDir = opts.vncDir ?? path.join(os.tmpdir(), `kumo-fake-vnc-${process.pid}`);
    this.events.setMaxListeners(0);
  }

  async getCapabilities(): Promise<HostCapabilities> {
    return {
      driver: 'fake',
      accel: this.accel,
      accelReason: `fake driver (reports ${this.accel})`,
      hypervisorVersion: 'fake 1.0',
      features: { fdPassing: true, tapInNetns: true, vcpuPinning: true, uefi: true, liveMigration: true, memoryHotplug: true, guestAgent: true },
    };
  }

  subscribe(listener: (e: DriverEvent) => void): () => void {
    this.events.on('event', listener);
    return () => this.events.off('event', listener);
  }

  private emit(domainId: string, type: DriverEvent['type'], detail?: string): void {
    if (this.events.listenerCount('event')) this.events.emit('event', { domainId, type, detail } satisfies DriverEvent);
  }

  private get(id: string): FakeDomain {
    const d = this.store.domains.get(id);
    if (!d) throw new DomainNotFound(id);
    return d;
  }

  private require(id: string, op: string, allowed: DomainState[]): FakeDomain {
    const d = this.get(id);
    if (!allowed.includes(d.state)) throw new InvalidState(id, op, d.state, allowed);
    return d;
  }

  private validate(input: DomainSpecInput): DomainSpec {
    const spec = parseDomainSpec(input);
    const concrete = parseDomainSpec({ ...spec, machine: { ...spec.machine, accel: spec.machine.accel ?? this.accel } });
    if (concrete.machine.accel === 'kvm' && this.accel !== 'kvm')
      throw new InvalidSpec('machine.accel', `kvm requested but this host cannot run KVM guests: fake host reports ${this.accel}`);
    if (this.checkFiles) {
      const mustExist = (field: string, p: string | undefined) => {
        if (p && !fs.existsSync(p)) throw new InvalidSpec(field, `${p} does not exist`);
      };
      mustExist('boot.kernel', concrete.boot.kernel);
      mustExist('boot.initrd', concrete.boot.initrd);
      concrete.disks.forEach((d, i) => mustExist(`disks[${i}].path`, d.path));
    }
    return concrete;
  }

  private checkCapacity(spec: DomainSpec): void {
    if (!this.capacity) return;
    let vcpus = 0;
    let mem = 0;
    for (const d of this.store.domains.values()) {
      if (d.state === 'running' || d.state === 'paused' || d.state === 'migrating') {
        vcpus += d.spec.cpu.vcpus;
        mem += d.spec.memory.sizeMb;
      }
    }
    if (vcpus + spec.cpu.vcpus > this.capacity.vcpus || mem + spec.memory.sizeMb > this.capacity.memoryMb)
      throw new InsufficientResources(
        `Fake host ${this.host} is full: ${vcpus}/${this.capacity.vcpus} vCPUs and ${mem}/${this.capacity.memoryMb} MiB in use, ${spec.cpu.vcpus} vCPUs and ${spec.memory.sizeMb} MiB requested`,
      );
  }

  private boot(d: FakeDomain): void {
    d.bootCount++;
    d.state = 'running';
    d.startedAt = Date.now();
    d.exitReason = undefined;
    d.hotVcpus = 0;
    d.balloonMb = undefined;
    // A few lines per boot, as a real guest's serial log has (APIs that tail it by lines need more
    // than one to be tested); the marker stays once per boot.
    d.console.push(`${FAKE_BOOT_MARKER} ${d.bootCount}`, '[    0.000000] Linux version 6.1.0-fake (FakeDriver)', '[    0.000000] Command line: console=ttyS0', '[    1.000000] Run /sbin/init as init process', `${d.spec.id} login:`);
    // Bounded, like the real serial log cap.
    if (d.console.length > 1000) d.console.splice(0, d.console.length - 1000);
  }

  private info(id: string, d: FakeDomain): DomainInfo {
    return { id, state: d.state, spec: d.spec, exitReason: d.state === 'shutoff' || d.state === 'crashed' ? d.exitReason : undefined };
  }

  /** Hook for variants (fault injection). Runs after validation, before anything is recorded. */
  protected beforeSpawn(_spec: DomainSpec): void {}

  async spawn(input: DomainSpecInput): Promise<DomainInfo> {
    const spec = this.validate(input);
    if (this.store.domains.has(spec.id)) throw new DomainAlreadyExists(spec.id);
    this.checkCapacity(spec);
    this.beforeSpawn(spec);
    const d: FakeDomain = { spec, state: 'running', bootCount: 0, console: [], startedAt: 0, cpuBaseNs: 0, hotVcpus: 0 };
    this.boot(d);
    this.store.domains.set(spec.id, d);
    this.emit(spec.id, 'started');
    return this.info(spec.id, d);
  }

  async destroy(id: string): Promise<void> {
    this.get(id);
    await this.stopVnc(id);
    this.store.domains.delete(id);
    this.emit(id, 'destroyed');
  }

  async shutdown(id: string): Promise<{ method: 'acpi' | 'quit' | 'kill' }> {
    const d = this.require(id, 'shut down', ['running', 'paused']);
    d.state = 'shutoff';
    d.exitReason = { kind: 'host-request', detail: 'stopped by the driver (stop)', exitStatus: 0 };
    this.emit(id, 'shutoff', 'stopped via acpi');
    return { method: 'acpi' };
  }

  async start(id: string): Promise<DomainInfo> {
    const d = this.require(id, 'start', ['shutoff', 'crashed']);
    this.checkCapacity(d.spec);
    this.boot(d);
    this.emit(id, 'started');
    return this.info(id, d);
  }

  async reboot(id: string, opts?: { hard?: boolean }): Promise<void> {
    const d = this.require(id, 'reboot', ['running']);
    this.boot(d);
    this.emit(id, 'rebooted', opts?.hard ? 'hard' : 'soft');
  }

  async pause(id: string): Promise<void> {
    this.require(id, 'pause', ['running']).state = 'paused';
    this.emit(id, 'paused');
  }

  async resume(id: string): Promise<void> {
    this.require(id, 'resume', ['paused']).state = 'running';
    this.emit(id, 'resumed');
  }

  async suspend(id: string): Promise<void> {
    this.require(id, 'suspend', ['running', 'paused']).state = 'suspended';
    this.emit(id, 'suspended');
  }

  async restore(id: string): Promise<void> {
    this.require(id, 'restore', ['suspended']).state = 'running';
    this.emit(id, 'started', 'restored');
  }

  private deviceIds(spec: DomainSpec): Set<string> {
    return new Set([...spec.disks.map((d) => d.id), ...spec.nics.map((n) => n.id), ...spec.memory.dimms.map((d) => d.id)]);
  }

  async attachDisk(id: string, input: DiskSpecInput): Promise<void> {
    const disk = parseDiskSpec(input);
    const d = this.require(id, 'attach a disk to', ['running', 'paused', 'shutoff']);
    if (this.deviceIds(d.spec).has(disk.id)) throw new DeviceAlreadyExists(id, disk.id);
    if (this.checkFiles && !fs.existsSync(disk.path)) throw new InvalidSpec(`disks[${d.spec.disks.length}].path`, `${disk.path} does not exist`);
    if (d.state !== 'shutoff' && disk.bus === 'ide') throw new InvalidArgument('disk.bus', 'IDE disks cannot be hot-plugged; use virtio-blk or virtio-scsi');
    d.spec = parseDomainSpec({ ...d.spec, disks: [...d.spec.disks, disk] });
    this.emit(id, 'device-added', disk.id);
  }

  async detachDisk(id: string, diskId: string): Promise<void> {
    const d = this.require(id, 'detach a disk from', ['running', 'shutoff']);
    if (!d.spec.disks.some((x) => x.id === diskId)) throw new DeviceNotFound(id, diskId);
    d.spec = { ...d.spec, disks: d.spec.disks.filter((x) => x.id !== diskId) };
    this.emit(id, 'device-removed', diskId);
  }

  async attachNic(id: string, input: NicSpecInput): Promise<void> {
    const nic = parseNicSpec(input);
    const d = this.require(id, 'attach a NIC to', ['running', 'paused', 'shutoff']);
    if (this.deviceIds(d.spec).has(nic.id)) throw new DeviceAlreadyExists(id, nic.id);
    d.spec = parseDomainSpec({ ...d.spec, nics: [...d.spec.nics, nic] });
    this.emit(id, 'device-added', nic.id);
  }

  async detachNic(id: string, nicId: string): Promise<void> {
    const d = this.require(id, 'detach a NIC from', ['running', 'shutoff']);
    if (!d.spec.nics.some((x) => x.id === nicId)) throw new DeviceNotFound(id, nicId);
    d.spec = { ...d.spec, nics: d.spec.nics.filter((x) => x.id !== nicId) };
    this.emit(id, 'device-removed', nicId);
  }

  async setVcpus(id: string, count: number): Promise<void> {
    const d = this.get(id);
    const max = maxVcpusOf(d.spec);
    if (!Number.isInteger(count) || count < 1 || count > max) throw new InvalidArgument('count', `must be an integer in 1..${max} (cpu.maxVcpus)`);
    this.require(id, 'change vCPUs of', ['running']);
    const boot = d.spec.cpu.vcpus - d.hotVcpus;
    if (count < boot) throw new InvalidArgument('count', `only hot-plugged vCPUs can be removed; ${id} booted with ${boot}`);
    d.hotVcpus = count - boot;
    d.spec = { ...d.spec, cpu: { ...d.spec.cpu, vcpus: count } };
  }

  async setMemory(id: string, targetMb: number): Promise<void> {
    const d = this.get(id);
    const total = d.spec.memory.sizeMb + d.spec.memory.dimms.reduce((a, x) => a + x.sizeMb, 0);
    if (!Number.isInteger(targetMb) || targetMb < 1 || targetMb > total) throw new InvalidArgument('targetMb', `must be an integer in 1..${total} (current RAM)`);
    if (!d.spec.memory.balloon) throw new InvalidArgument('targetMb', `domain ${id} has no balloon device (memory.balloon is false)`);
    this.require(id, 'set the memory of', ['running', 'paused']);
    d.balloonMb = targetMb;
  }

  async addMemory(id: string, sizeMb: number): Promise<string> {
    if (!Number.isInteger(sizeMb) || sizeMb < 1) throw new InvalidArgument('sizeMb', 'must be a positive integer');
    const d = this.require(id, 'add memory to', ['running', 'paused']);
    const m = d.spec.memory;
    const used = m.sizeMb + m.dimms.reduce((a, x) => a + x.sizeMb, 0);
    if (m.dimms.length >= m.slots) throw new InsufficientResources(`No free memory slot on ${id} (${m.slots} slots, ${m.dimms.length} used)`);
    if (!m.maxMb || used + sizeMb > m.maxMb) throw new InsufficientResources(`Adding ${sizeMb} MiB to ${id} would exceed memory.maxMb (${m.maxMb ?? 'unset'}; in use ${used})`);
    let n = m.dimms.length;
    while (m.dimms.some((x) => x.id === `dimm${n}`)) n++;
    const dimm = { id: `dimm${n}`, sizeMb };
    d.spec = { ...d.spec, memory: { ...m, dimms: [...m.dimms, dimm] } };
    return dimm.id;
  }

  async prepareIncomingMigration(input: DomainSpecInput): Promise<IncomingMigration> {
    const spec = this.validate(input);
    if (this.store.domains.has(spec.id)) throw new DomainAlreadyExists(spec.id);
    this.checkCapacity(spec);
    const d: FakeDomain = { spec, state: 'migrating', bootCount: 0, console: [], startedAt: Date.now(), cpuBaseNs: 0, hotVcpus: 0 };
    this.store.domains.set(spec.id, d);
    const uri = `fake:${this.host}/${spec.id}/${crypto.randomUUID()}`;
    incomingRegistry.set(uri, { driver: this, id: spec.id });
    return { uri };
  }

  /** Receiving end of a fake migration (called by the source driver). */
  private receive(id: string, from: FakeDomain): void {
    const d = this.store.domains.get(id);
    if (!d || d.state !== 'migrating') throw new MigrationFailed(id, `destination ${this.host} is not waiting for it`);
    d.state = from.state === 'paused' ? 'paused' : 'running';
    d.bootCount = from.bootCount;
    d.console = [...from.console];
    d.startedAt = from.startedAt;
    d.balloonMb = from.balloonMb;
    d.hotVcpus = from.hotVcpus;
  }

  async migrateOut(id: string, uri: string, opts?: MigrationOptions): Promise<MigrationResult> {
    const d = this.require(id, 'migrate', ['running', 'paused']);
    const check = () => {
      const target = incomingRegistry.get(uri);
      if (!target) throw new MigrationFailed(id, `nobody is listening on ${uri} (prepareIncomingMigration on the destination first)`);
      if (target.id !== id) throw new MigrationFailed(id, `${uri} expects domain ${target.id}`);
      return target;
    };
    check();
    const t0 = process.hrtime.bigint();
    // The simulated copy: cancellable, and over at once when forced (the source pauses, as in QEMU).
    for (const end = Date.now() + this.migrationMs; ; ) {
      if (opts?.signal?.aborted) throw new MigrationFailed(id, 'migration cancelled on request (source keeps running)');
      if (opts?.forceComplete?.aborted) {
        if (d.state === 'running') {
          d.state = 'paused';
          this.emit(id, 'paused', 'force-complete');
        }
        break;
      }
      if (Date.now() >= end) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const target = check();
    target.driver.receive(id, d);
    incomingRegistry.delete(uri);
    await this.stopVnc(id);
    this.store.domains.delete(id);
    this.emit(id, 'migrated-out', uri);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { totalTimeMs: ms, downtimeMs: 0, transferredBytes: d.spec.memory.sizeMb * 1024 * 1024 };
  }

  async finishIncomingMigration(id: string, opts?: { timeoutMs?: number }): Promise<DomainInfo> {
    const d = this.get(id);
    try {
      await waitUntil(opts?.timeoutMs ?? 300_000, () => this.store.domains.get(id)?.state !== 'migrating', { what: 'incoming migration', intervalMs: 10 });
    } catch (e) {
      this.store.domains.delete(id);
      for (const [uri, t] of incomingRegistry) if (t.driver === this && t.id === id) incomingRegistry.delete(uri);
      throw new MigrationFailed(id, (e as Error).message, { cause: e });
    }
    this.emit(id, 'migrated-in');
    return this.info(id, d);
  }

  async getInfo(id: string): Promise<DomainInfo> {
    return this.info(id, this.get(id));
  }

  async getStats(id: string): Promise<DomainStats> {
    const d = this.get(id);
    const live = d.state === 'running' || d.state === 'paused';
    const uptimeMs = live ? Date.now() - d.startedAt : 0;
    const m = d.spec.memory;
    return {
      id,
      state: d.state,
      accel: this.accel,
      accelReason: `fake driver (reports ${this.accel})`,
      vcpus: live ? Array.from({ length: d.spec.cpu.vcpus }, (_, i) => ({ index: i, affinity: d.spec.cpu.pinning?.vcpus[String(i)] })) : [],
      // A fake guest that is always 10% busy per vCPU.
      cpuTimeNs: live ? Math.round(uptimeMs * 1e5 * d.spec.cpu.vcpus) : 0,
      memory: { currentMb: m.sizeMb + m.dimms.reduce((a, x) => a + x.sizeMb, 0), balloonMb: m.balloon ? (d.balloonMb ?? m.sizeMb + m.dimms.reduce((a, x) => a + x.sizeMb, 0)) : undefined, maxMb: m.maxMb },
      // Plausible counters that grow with uptime (a boot reads ~112 requests, then light steady I/O),
      // so diagnostics and monitoring code see moving numbers, as from a real guest.
      disks: d.spec.disks.map((x) => {
        const rdOps = live ? 112 * d.bootCount + Math.floor(uptimeMs / 1000) : 0;
        const wrOps = live ? Math.floor(uptimeMs / 250) : 0;
        return { id: x.id, rdBytes: rdOps * 4096, wrBytes: wrOps * 4096, rdOps, wrOps };
      }),
      nics: d.spec.nics.map((n) => ({ id: n.id, ifname: n.tap.ifname, rxBytes: live ? 2048 + Math.floor(uptimeMs / 10) * 64 : 0, txBytes: live ? 1024 + Math.floor(uptimeMs / 20) * 64 : 0 })),
      uptimeMs,
    };
  }

  async setUserPassword(id: string, user: string, password: string): Promise<void> {
    if (typeof user !== 'string' || !user) throw new InvalidArgument('user', 'must be a non-empty string');
    if (typeof password !== 'string') throw new InvalidArgument('password', 'must be a string');
    const d = this.require(id, 'set a password in', ['running']);
    // The fake guest always has an agent: it just remembers the password.
    d.passwords = { ...d.passwords, [user]: password };
  }

  async injectNmi(id: string): Promise<void> {
    const d = this.require(id, 'inject an NMI into', ['running', 'paused']);
    d.nmiCount = (d.nmiCount ?? 0) + 1;
  }

  async getConsole(id: string): Promise<ConsoleEndpoints> {
    const d = this.get(id);
    // Like QemuDriver: a VNC endpoint exactly when the spec asks for one.
    if (!d.spec.console.vnc) return {};
    if (this.vncDir === false) return { vncSocket: `fake:${this.host}/${id}/vnc.sock` };
    let server = this.vncServers.get(id);
    if (!server) {
      // Short and stable per host and domain (unix socket paths are limited to 107 bytes).
      const name = crypto.createHash('sha256').update(`${this.host}/${id}`).digest('hex').slice(0, 24);
      server = FakeVncServer.listen(path.join(this.vncDir, `${name}.vnc.sock`), { name: id });
      this.vncServers.set(id, server);
      server.catch(() => this.vncServers.delete(id));
    }
    return { vncSocket: (await server).socketPath };
  }

  /** Test hook: the fake VNC server of a domain, once getConsole started it. */
  async vncServer(id: string): Promise<FakeVncServer | undefined> {
    return this.vncServers.get(id);
  }

  private async stopVnc(id: string): Promise<void> {
    const server = this.vncServers.get(id);
    if (!server) return;
    this.vncServers.delete(id);
    await (await server.catch(() => undefined))?.close();
  }

  async getConsoleOutput(id: string, opts?: { maxBytes?: number }): Promise<string> {
    const text = this.get(id).console.join('\n') + '\n';
    const max = opts?.maxBytes ?? 64 * 1024;
    return text.length > max ? text.slice(text.length - max) : text;
  }

  async listDomains(): Promise<DomainSummary[]> {
    return [...this.store.domains.entries()].map(([id, d]) => ({ id, state: d.state })).sort((a, b) => a.id.localeCompare(b.id));
  }

  async listRunning(): Promise<DomainSummary[]> {
    return (await this.listDomains()).filter((d) => d.state === 'running' || d.state === 'paused' || d.state === 'migrating');
  }

  /** Test hook: make a domain die as if QEMU crashed (signal), to exercise crash handling upstream. */
  simulateCrash(id: string, detail = 'QEMU was killed by SIGKILL'): void {
    const d = this.require(id, 'crash', ['running', 'paused']);
    d.state = 'crashed';
    d.exitReason = { kind: 'signal', detail, signal: 'SIGKILL', exitStatus: 137 };
    this.emit(id, 'crashed', detail);
  }

  /** Test hook: the guest powers itself off. */
  simulateGuestPoweroff(id: string): void {
    const d = this.require(id, 'power off', ['running']);
    d.state = 'shutoff';
    d.exitReason = { kind: 'guest-shutdown', detail: 'the guest powered off', exitStatus: 0 };
    this.emit(id, 'shutoff', d.exitReason.detail);
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
    await Promise.all([...this.vncServers.keys()].map((id) => this.stopVnc(id)));
  }
}
