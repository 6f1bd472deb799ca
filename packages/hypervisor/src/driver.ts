// The virt-driver interface (cf. nova/virt/driver.py ComputeDriver, cloud-hypervisor's
// `trait Hypervisor`). Two implementations: QemuDriver (real guests) and FakeDriver (in
// memory). Both pass test/driver.contract.ts, which is the executable form of the contracts
// written below; when the two disagree, the contract suite decides.
//
// General rules for every method:
// - Errors are HypervisorError subclasses (errors.ts). Unknown id -> DomainNotFound; wrong
//   state -> InvalidState (nothing changed); bad input -> InvalidSpec/InvalidArgument (nothing
//   changed, no process started).
// - Operations on one domain are serialized by the driver; operations on different domains
//   may run concurrently.
// - Methods resolve when the change is done as far as the hypervisor can tell (e.g. QMP
//   acknowledged and, for unplug, the guest released the device), not when the guest OS has
//   reacted to it (a hot-plugged disk may take a moment to show up inside the guest).
import type { DiskSpecInput, DomainSpec, DomainSpecInput, NicSpecInput } from './spec.js';

export type DomainState =
  /** vCPUs running. */
  | 'running'
  /** vCPUs stopped by pause(); memory kept in the process. */
  | 'paused'
  /** Memory saved to a file by suspend(); no process. */
  | 'suspended'
  /** Process ended normally (guest poweroff, shutdown()). Definition kept; start() boots it again. */
  | 'shutoff'
  /** Process ended abnormally (signal, error exit) or the guest hit an internal error/panic. */
  | 'crashed'
  /** Incoming live migration in progress (prepareIncomingMigration). */
  | 'migrating';

export type Accelerator = 'kvm' | 'tcg';

export interface ExitReason {
  kind: 'guest-shutdown' | 'host-request' | 'signal' | 'error' | 'internal-error' | 'unknown';
  /** Human-readable detail, e.g. "killed by signal 9 (SIGKILL)" or the last QEMU error line. */
  detail: string;
  exitStatus?: number;
  signal?: string;
}

export interface DomainInfo {
  id: string;
  state: DomainState;
  /** The current definition, including hot-plugged devices and vCPU count. */
  spec: DomainSpec;
  /** Host pid of the QEMU process (undefined for fake domains and stopped ones). */
  pid?: number;
  /** Set when state is shutoff or crashed. */
  exitReason?: ExitReason;
}

export interface DomainSummary {
  id: string;
  state: DomainState;
  pid?: number;
}

export interface DomainStats {
  id: string;
  state: DomainState;
  accel: Accelerator;
  /** Why this accelerator (from the probe), e.g. "kvm: -cpu host aborted (MSR 0x10a); using tcg". */
  accelReason: string;
  vcpus: { index: number; threadId?: number; affinity?: number[] }[];
  /** Cumulative user+system CPU time of the whole domain, nanoseconds. */
  cpuTimeNs: number;
  memory: {
    /** Boot RAM + DIMMs, MiB. */
    currentMb: number;
    /** Balloon target as reported by the guest, MiB (undefined without a balloon). */
    balloonMb?: number;
    maxMb?: number;
    /** Resident set size of the hypervisor process, KiB. */
    rssKb?: number;
  };
  disks: { id: string; rdBytes: number; wrBytes: number; rdOps: number; wrOps: number }[];
  nics: { id: string; ifname: string; rxBytes?: number; txBytes?: number }[];
  uptimeMs: number;
}

export interface ConsoleEndpoints {
  /** Unix socket carrying the guest's first serial port (bidirectional). */
  serialSocket?: string;
  /** Unix socket speaking RFB (VNC), when spec.console.vnc. */
  vncSocket?: string;
  /** Log file of everything the guest wrote to the serial port (size-capped, rotated once). */
  serialLog?: string;
}

export interface MigrationOptions {
  /** Max downtime QEMU may choose for the final stop-and-copy, ms (QEMU default 300). */
  maxDowntimeMs?: number;
  /** Bandwidth cap, bytes/s. */
  maxBandwidth?: number;
  /** Give up (and cancel, source keeps running) after this long. */
  timeoutMs?: number;
  /**
   * Aborting it cancels the migration (Nova's live-migration abort, 2.24): migrateOut rejects
   * with MigrationFailed ("cancelled") and the source keeps running, as after any failure.
   */
  signal?: AbortSignal;
  /**
   * Aborting it asks the migration to finish now (Nova's force_complete, 2.22, without
   * post-copy): the source's vCPUs are paused so the copy converges. The destination then
   * starts paused; whoever wants it running resumes it (the agent's next sync does).
   */
  forceComplete?: AbortSignal;
}

export interface MigrationResult {
  totalTimeMs: number;
  downtimeMs: number;
  setupTimeMs?: number;
  transferredBytes: number;
}

export interface IncomingMigration {
  /** Where the source must send the stream (unix:/path, tcp:127.0.0.1:port, fake:...). */
  uri: string;
}

export interface DriverEvent {
  domainId: string;
  type: 'started' | 'paused' | 'resumed' | 'suspended' | 'shutoff' | 'crashed' | 'rebooted' | 'migrated-out' | 'migrated-in' | 'destroyed' | 'device-added' | 'device-removed';
  detail?: string;
}

export interface HostCapabilities {
  driver: 'qemu' | 'fake';
  accel: Accelerator;
  accelReason: string;
  hypervisorVersion: string;
  /** Features the driver can really do on this host (fd passing needs the native addon, ...). */
  features: Record<string, boolean>;
}

export interface HypervisorDriver {
  /** Host facts: accelerator in use and why, version, available features. */
  getCapabilities(): Promise<HostCapabilities>;

  /**
   * Defines and boots a domain.
   * Pre: no domain `spec.id` exists here (else DomainAlreadyExists); the spec validates (else
   * InvalidSpec naming the field) and every file it names exists.
   * Post: the domain is `running` (vCPUs started; the guest OS may still be booting).
   * If this fails, any partial instance is completely cleaned up (no process, no instance
   * directory, no fds) and the host is in the state it was before the call (SpawnFailed).
   */
  spawn(spec: DomainSpecInput): Promise<DomainInfo>;

  /**
   * Powers off and forgets the domain: process killed if any, instance state removed (disk
   * images named in the spec are the caller's and are left alone). Works in every state.
   * Post: getInfo(id) throws DomainNotFound.
   */
  destroy(id: string): Promise<void>;

  /**
   * Graceful stop: ACPI power button, then after `timeoutMs` (default 60 s) a QMP quit, then
   * SIGKILL. Allowed in running|paused. Post: `shutoff`, definition kept.
   * Resolves with how it ended.
   */
  shutdown(id: string, opts?: { timeoutMs?: number }): Promise<{ method: 'acpi' | 'quit' | 'kill' }>;

  /** Boots a `shutoff` or `crashed` domain again from its (current) definition. Post: `running`. */
  start(id: string): Promise<DomainInfo>;

  /**
   * hard: reset the machine (power cycle without a new process).
   * soft (default): graceful shutdown with `timeoutMs`, then start; falls back to a hard reset
   * if the guest ignores the power button. Allowed in `running`. Post: `running`.
   */
  reboot(id: string, opts?: { hard?: boolean; timeoutMs?: number }): Promise<void>;

  /** running -> paused (vCPUs stopped, memory kept). */
  pause(id: string): Promise<void>;
  /** paused -> running. */
  resume(id: string): Promise<void>;

  /**
   * running|paused -> suspended: guest memory and device state are written to a file in the
   * instance directory and the process ends. Host resources other than disk are released.
   */
  suspend(id: string): Promise<void>;
  /** suspended -> running, from the saved file (which is then deleted). */
  restore(id: string): Promise<void>;

  /**
   * Adds a disk. running|paused: hot-plug (blockdev + device). shutoff: definition only.
   * DeviceAlreadyExists if the id is taken; InvalidSpec for a bad disk spec or missing file.
   */
  attachDisk(id: string, disk: DiskSpecInput): Promise<void>;
  /**
   * Removes a disk. running: asks the guest to release it and waits up to `timeoutMs` for the
   * device to be gone (DeviceDetachTimeout otherwise; the disk stays attached in the
   * definition). shutoff: definition only.
   */
  detachDisk(id: string, diskId: string, opts?: { timeoutMs?: number }): Promise<void>;
  /** Adds a NIC; same rules as attachDisk. */
  attachNic(id: string, nic: NicSpecInput): Promise<void>;
  /** Removes a NIC; same rules as detachDisk. */
  detachNic(id: string, nicId: string, opts?: { timeoutMs?: number }): Promise<void>;

  /**
   * Sets the number of online vCPUs (hot-plug/unplug) within 1..maxVcpus (else
   * InvalidArgument). Allowed in running. Unplug needs guest cooperation.
   */
  setVcpus(id: string, count: number, opts?: { timeoutMs?: number }): Promise<void>;
  /**
   * Balloon target in MiB, within 1..current RAM (else InvalidArgument). Needs a balloon
   * device (memory.balloon). Resolves once QEMU accepted the target; the guest converges later
   * (stats.memory.balloonMb).
   */
  setMemory(id: string, targetMb: number): Promise<void>;
  /** Hot-adds a DIMM of `sizeMb`; needs a free slot and room under memory.maxMb (else InsufficientResources). Returns the DIMM id. */
  addMemory(id: string, sizeMb: number): Promise<string>;

  /**
   * Destination side of live migration: starts the domain from `spec` waiting for a
   * migration stream and returns where to send it. Post: state `migrating`.
   * Pre/post-failure as for spawn.
   */
  prepareIncomingMigration(spec: DomainSpecInput, opts?: { transport?: 'unix' | 'tcp' }): Promise<IncomingMigration>;
  /**
   * Source side: streams the running domain to `uri` and, on success, removes it from this
   * host (the destination owns it). On failure the source keeps running (MigrationFailed).
   */
  migrateOut(id: string, uri: string, opts?: MigrationOptions): Promise<MigrationResult>;
  /**
   * Destination side, after the source's migrateOut resolved (or concurrently): waits until
   * the incoming domain runs. On failure the half-started destination is cleaned up.
   */
  finishIncomingMigration(id: string, opts?: { timeoutMs?: number }): Promise<DomainInfo>;

  getInfo(id: string): Promise<DomainInfo>;
  getStats(id: string): Promise<DomainStats>;
  /**
   * Sets the password of a guest user through the guest agent (qemu-guest-agent's
   * guest-set-user-password; Nova's set_admin_password). Allowed in `running`.
   * GuestAgentUnavailable when the domain has no guest agent (nothing changed);
   * `features.guestAgent` of getCapabilities says whether this driver can do it at all.
   */
  setUserPassword(id: string, user: string, password: string): Promise<void>;

  /**
   * Injects a non-maskable interrupt into the guest (Nova's trigger_crash_dump: a guest kernel
   * configured for it panics and writes a crash dump). Allowed in `running|paused` (a paused
   * guest takes it when resumed); InvalidState otherwise. The domain's state is not changed.
   */
  injectNmi(id: string): Promise<void>;

  /** Where to connect for the serial/VNC console. */
  getConsole(id: string): Promise<ConsoleEndpoints>;
  /** Tail of the serial log, at most `maxBytes` (default 64 KiB). */
  getConsoleOutput(id: string, opts?: { maxBytes?: number }): Promise<string>;

  /** Domains with a live process (running, paused, migrating), including ones started by an earlier driver instance. */
  listRunning(): Promise<DomainSummary[]>;
  /** Every domain this host knows of, in any state. */
  listDomains(): Promise<DomainSummary[]>;

  /** Lifecycle notifications (including crashes noticed without any call). Returns an unsubscribe function. */
  subscribe(listener: (e: DriverEvent) => void): () => void;

  /** Releases driver resources (QMP connections, timers). Guests keep running. */
  close(): Promise<void>;
}
