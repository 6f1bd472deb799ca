// QMP (QEMU Machine Protocol) client over a unix socket.
//
// How a session goes (qemu docs/interop/qmp-spec):
//  1. We connect to the socket QEMU created with `-chardev socket,server=on,wait=off` +
//     `-mon mode=control`. QEMU immediately sends a greeting:
//       {"QMP": {"version": {...}, "capabilities": ["oob"]}}
//  2. The session is in "capabilities negotiation" mode: the only accepted command is
//       {"execute": "qmp_capabilities"}          -> {"return": {}}
//     after which QEMU accepts every command. (We do not enable out-of-band execution.)
//  3. Commands are JSON objects, one per line. We tag each with an "id"; QEMU echoes it in
//     the reply, either {"return": ..., "id": N} or {"error": {"class", "desc"}, "id": N}.
//     Replies arrive in order, but events may be interleaved between them.
//  4. Events arrive at any time: {"event": "STOP", "data": {...}, "timestamp": {...}}. They
//     are emitted as 'event' (and '<NAME>') and can be awaited with waitForEvent().
//  5. File descriptors (TAP fds, migration files) travel as SCM_RIGHTS ancillary data on this
//     same socket together with a `getfd` command naming them; later commands refer to the
//     name (netdev_add fd=NAME, migrate uri=fd:NAME). Node cannot send ancillary data, so this
//     goes through the native addon's sendFd on the socket's fd after our own writes drained.
//  6. QEMU accepts one client per monitor socket. When the connection drops (agent restart,
//     explicit close) a new client can connect and negotiate again: that is how the driver
//     reattaches. With `reconnect` set, this client retries by itself.
//
// Every command has a timeout; a timed-out command's late reply is ignored. On disconnect all
// pending commands fail with QmpDisconnected.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { loadNative } from '../native.js';

export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

export interface QmpEvent<D = Record<string, unknown>> {
  event: string;
  data?: D;
  timestamp: { seconds: number; microseconds: number };
}

export type RunState =
  | 'running'
  | 'paused'
  | 'prelaunch'
  | 'inmigrate'
  | 'postmigrate'
  | 'finish-migrate'
  | 'shutdown'
  | 'internal-error'
  | 'guest-panicked'
  | 'io-error'
  | 'suspended'
  | 'save-vm'
  | 'restore-vm'
  | 'watchdog'
  | 'debug'
  | 'colo';

export interface MigrationInfo {
  status?: 'none' | 'setup' | 'active' | 'cancelling' | 'cancelled' | 'completed' | 'failed' | 'pre-switchover' | 'device' | 'postcopy-active' | 'wait-unplug';
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  ram?: { transferred: number; total: number; remaining: number; duplicate: number; 'dirty-sync-count': number; mbps: number };
  'error-desc'?: string;
}

/** Commands the driver uses, with their reply types. Anything else goes through execute<unknown>(). */
export interface QmpCommandMap {
  'query-status': { status: RunState; running: boolean; singlestep?: boolean };
  'query-kvm': { enabled: boolean; present: boolean };
  'query-cpus-fast': { 'cpu-index': number; 'thread-id': number; 'qom-path': string; props?: Record<string, number>; target: string }[];
  'query-hotpluggable-cpus': { type: string; 'vcpus-count': number; props: Record<string, number>; 'qom-path'?: string }[];
  'query-balloon': { actual: number };
  'query-block': { device: string; qdev?: string; inserted?: { 'node-name': string; file: string; drv: string; ro: boolean } }[];
  'query-named-block-nodes': { 'node-name': string; drv: string; file: string; ro: boolean }[];
  'query-blockstats': { qdev?: string; 'node-name'?: string; stats: { rd_bytes: number; wr_bytes: number; rd_operations: number; wr_operations: number } }[];
  'query-pci': { bus: number; devices: { qdev_id: string; slot: number; id: { device: number; vendor: number }; class_info: { desc?: string; class: number } }[] }[];
  'query-memory-devices': { type: string; data: { id?: string; size: number; memdev: string; slot?: number; addr?: number } }[];
  'query-memory-size-summary': { 'base-memory': number; 'plugged-memory'?: number };
  'query-migrate': MigrationInfo;
  'query-version': { qemu: { major: number; minor: number; micro: number }; package: string };
  'query-chardev': { label: string; filename: string; 'frontend-open': boolean }[];
  'query-name': { name?: string };
}

/** Data of the events the driver relies on (QEMU sends more; those arrive untyped). */
export interface QmpEventDataMap {
  SHUTDOWN: { guest: boolean; reason: string };
  POWERDOWN: Record<string, never>;
  RESET: { guest: boolean; reason: string };
  STOP: Record<string, never>;
  RESUME: Record<string, never>;
  DEVICE_DELETED: { device?: string; path: string };
  MIGRATION: { status: NonNullable<MigrationInfo['status']> };
  MIGRATION_PASS: { pass: number };
  BALLOON_CHANGE: { actual: number };
  ACPI_DEVICE_OST: { info: { device?: string; slot: string; 'slot-type': string; source: number; status: number } };
  GUEST_PANICKED: { action: string };
}

export class QmpError extends Error {}
export class QmpCommandError extends QmpError {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
  }
}
export class QmpTimeout extends QmpError {
  constructor(what: string, ms: number) {
    super(`QMP ${what} got no reply within ${ms} ms (QEMU hung or the socket is stuck)`);
  }
}
export class QmpDisconnected extends QmpError {
  constructor(what: string) {
    super(`QMP connection closed while waiting for ${what}`);
  }
}

export interface QmpClientOptions {
  socketPath: string;
  commandTimeoutMs?: number;
  /** How long connect() keeps retrying while the socket does not exist yet / refuses. */
  connectTimeoutMs?: number;
  /** Reconnect automatically after an unexpected disconnect, for up to this many ms (0 = never). */
  reconnectForMs?: number;
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class QmpClient extends EventEmitter {
  private socket: net.Socket | null = null;
  private buffer = '';
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private greetingWaiter: ((g: QmpGreeting) => void) | null = null;
  private closedByUser = false;
  private connected = false;
  greeting: QmpGreeting | null = null;
  readonly socketPath: string;
  private readonly commandTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly reconnectForMs: number;

  constructor(opts: QmpClientOptions) {
    super();
    this.socketPath = opts.socketPath;
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.reconnectForMs = opts.reconnectForMs ?? 0;
    // Events are often emitted with nobody listening; that is fine.
    this.setMaxListeners(0);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects (retrying until connectTimeoutMs) and negotiates capabilities. */
  async connect(): Promise<QmpGreeting> {
    this.closedByUser = false;
    const deadline = Date.now() + this.connectTimeoutMs;
    let lastErr: unknown;
    while (Date.now() < deadline) {
      try {
        return await this.connectOnce(Math.max(100, deadline - Date.now()));
      } catch (e) {
        lastErr = e;
        if (this.closedByUser) break;
        await delay(50);
      }
    }
    throw new QmpError(
      `Cannot connect to QMP socket ${this.socketPath} within ${this.connectTimeoutMs} ms: ${(lastErr as Error)?.message ?? 'unknown'} ` +
        '(is the QEMU process running, and is another client already connected?)',
    );
  }

  private connectOnce(timeoutMs: number): Promise<QmpGreeting> {
    return new Promise<QmpGreeting>((resolve, reject) => {
      const sock = net.createConnection({ path: this.socketPath });
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock.destroy();
        this.greetingWaiter = null;
        reject(e);
      };
      const timer = setTimeout(() => fail(new QmpTimeout('greeting', timeoutMs)), timeoutMs);
      sock.once('error', fail);
      sock.once('close', () => fail(new QmpDisconnected('greeting')));
      sock.setEncoding('utf8');
      this.buffer = '';
      this.socket = sock;
      sock.on('data', (chunk: string) => this.onData(chunk));
      this.greetingWaiter = (g) => {
        this.greeting = g;
        // Capabilities negotiation: must be the first command.
        this.connected = true;
        this.executeRaw('qmp_capabilities', undefined, timeoutMs)
          .then(() => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            sock.removeListener('error', fail);
            sock.removeAllListeners('close');
            sock.on('error', () => {
              /* reported through 'close' */
            });
            sock.on('close', () => this.onClose(sock));
            resolve(g);
          })
          .catch((e: Error) => fail(e));
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.emit('protocol-error', new QmpError(`unparseable QMP line: ${line.slice(0, 200)}`));
        continue;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if ('QMP' in msg) {
      const w = this.greetingWaiter;
      this.greetingWaiter = null;
      w?.(msg as unknown as QmpGreeting);
      return;
    }
    if ('event' in msg) {
      const ev = msg as unknown as QmpEvent;
      this.emit('event', ev);
      this.emit(ev.event, ev);
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : undefined;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return; // reply to a command that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('error' in msg) {
      const err = msg.error as { class: string; desc: string };
      p.reject(new QmpCommandError(p.command, err.class, err.desc));
    } else {
      p.resolve(msg.return);
    }
  }

  private onClose(sock: net.Socket): void {
    if (this.socket !== sock) return;
    this.connected = false;
    this.socket = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new QmpDisconnected(p.command));
      this.pending.delete(id);
    }
    this.emit('disconnect');
    if (!this.closedByUser && this.reconnectForMs > 0) void this.reconnectLoop();
  }

  private async reconnectLoop(): Promise<void> {
    const deadline = Date.now() + this.reconnectForMs;
    while (!this.closedByUser && Date.now() < deadline) {
      try {
        await this.connectOnce(Math.min(2000, Math.max(100, deadline - Date.now())));
        this.emit('reconnect');
        return;
      } catch {
        await delay(200);
      }
    }
    if (!this.closedByUser) this.emit('lost');
  }

  private executeRaw(command: string, args: unknown, timeoutMs: number): Promise<unknown> {
    const sock = this.socket;
    if (!sock || !this.connected) return Promise.reject(new QmpDisconnected(command));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeout(command, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      sock.write(JSON.stringify(msg) + '\n');
    });
  }

  /** Runs a command and resolves with its `return` value; rejects with QmpCommandError/QmpTimeout/QmpDisconnected. */
  execute<K extends keyof QmpCommandMap>(command: K, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<QmpCommandMap[K]>;
  execute<R = unknown>(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<R>;
  execute(command: string, args?: Record<string, unknown>, opts?: { timeoutMs?: number }): Promise<unknown> {
    return this.executeRaw(command, args, opts?.timeoutMs ?? this.commandTimeoutMs);
  }

  /**
   * Passes `fd` to QEMU under `name` (QMP getfd + SCM_RIGHTS). QEMU dups the fd, so the caller
   * may close its copy afterwards. Needs the native addon.
   */
  async sendFd(name: string, fd: number, opts?: { timeoutMs?: number }): Promise<void> {
    const native = loadNative();
    const sock = this.socket;
    if (!sock || !this.connected) throw new QmpDisconnected('getfd');
    const handleFd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (typeof handleFd !== 'number' || handleFd < 0) throw new QmpError('cannot pass fds: the QMP socket has no OS-level fd');
    // Our buffered writes must reach QEMU before the sendmsg, or commands would be reordered.
    while (sock.writableLength > 0) await new Promise((r) => sock.once('drain', r));
    const timeoutMs = opts?.timeoutMs ?? this.commandTimeoutMs;
    const id = this.nextId++;
    const reply = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeout('getfd', timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { command: 'getfd', resolve: () => resolve(), reject, timer });
    });
    const payload = Buffer.from(JSON.stringify({ execute: 'getfd', arguments: { fdname: name }, id }) + '\n');
    try {
      native.sendFd(handleFd, fd, payload, timeoutMs);
    } catch (e) {
      const p = this.pending.get(id);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(id);
      }
      throw e;
    }
    await reply;
  }

  /**
   * Resolves with the first event named `name` (matching `predicate`) that arrives after this
   * call; rejects after timeoutMs or when the connection closes.
   */
  waitForEvent<K extends keyof QmpEventDataMap>(name: K, timeoutMs: number, predicate?: (ev: QmpEvent<QmpEventDataMap[K]>) => boolean): Promise<QmpEvent<QmpEventDataMap[K]>>;
  waitForEvent<D = Record<string, unknown>>(name: string, timeoutMs: number, predicate?: (ev: QmpEvent<D>) => boolean): Promise<QmpEvent<D>>;
  waitForEvent<D = Record<string, unknown>>(name: string, timeoutMs: number, predicate?: (ev: QmpEvent<D>) => boolean): Promise<QmpEvent<D>> {
    return new Promise((resolve, reject) => {
      const onEvent = (ev: QmpEvent<D>) => {
        if (predicate && !predicate(ev)) return;
        cleanup();
        resolve(ev);
      };
      const onClose = () => {
        cleanup();
        reject(new QmpDisconnected(`event ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new QmpTimeout(`event ${name}`, timeoutMs));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.removeListener(name, onEvent as (ev: QmpEvent) => void);
        this.removeListener('disconnect', onClose);
      };
      this.on(name, onEvent as (ev: QmpEvent) => void);
      this.once('disconnect', onClose);
    });
  }

  /** Closes the connection; QEMU keeps running. */
  close(): void {
    this.closedByUser = true;
    const s = this.socket;
    if (s) {
      s.end();
      s.destroy();
    }
  }

  /** Test/diagnostic hook: drop the connection as if the peer went away (triggers reconnect). */
  dropConnectionForTest(): void {
    this.socket?.destroy();
  }
}
