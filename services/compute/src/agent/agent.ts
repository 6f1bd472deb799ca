import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type AgentReport,
  type AgentSyncRequest,
  agentQueue,
  type AttachInterfaceRequest,
  type AttachVolumeRequest,
  type DetachVolumeRequest,
  CONTRACT_VERSION,
  type ConsoleOutputRequest,
  type DetachInterfaceRequest,
  type DiagnosticsRequest,
  type ControlMigrationRequest,
  type DomainRef,
  type Envelope,
  type GetConsoleRequest,
  type HostReport,
  isCompatible,
  type PrepareIncomingRequest,
  serviceQueue,
  type SetPasswordRequest,
} from '@kumo/contracts';
import { type HypervisorDriver, isHypervisorError } from '@kumo/hypervisor';
import { diagnosticsOf, standardDiagnosticsOf } from './diagnostics.js';
import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import type { Channel, ConsumeMessage } from 'amqplib';
import { ConsoleProxy } from './console-proxy.js';
import { nicOf, nicIdOf, volumeDiskIdOf, volumeDiskOf } from './domain-spec.js';
import { HostSyncer, type MigrationPeers } from './syncer.js';

export interface AgentHostOptions {
  host: string;
  driver: HypervisorDriver;
  vcpus: number;
  memoryMb: number;
  localGb: number;
  cpuAllocationRatio?: number;
  ramAllocationRatio?: number;
  diskAllocationRatio?: number;
  availabilityZone?: string;
  /** NUMA cells the host has (default 1); its CPUs and memory are split evenly across them. */
  numaNodes?: number;
  /** Host CPUs for pinned guests (Nova's cpu_dedicated_set); default none (no pinned guests here). */
  cpuDedicatedSet?: number[];
}

/**
 * The host topology the agent reports: CPUs 0..vcpus-1 and the memory split evenly over
 * `numaNodes` cells (the FakeDriver has no real topology; a QEMU host sets the same options to
 * what `lscpu` shows).
 */
export function numaTopologyOf(h: Pick<AgentHostOptions, 'vcpus' | 'memoryMb' | 'numaNodes'>): NonNullable<HostReport['numaTopology']> {
  const n = Math.max(1, Math.min(h.numaNodes ?? 1, h.vcpus));
  const per = Math.floor(h.vcpus / n);
  return {
    cells: Array.from({ length: n }, (_, id) => ({
      id,
      cpus: Array.from({ length: id === n - 1 ? h.vcpus - per * id : per }, (_, k) => per * id + k),
      memoryMb: Math.floor(h.memoryMb / n),
    })),
  };
}

export interface AgentOptions {
  amqpUrl: string;
  hosts: AgentHostOptions[];
  /** Heartbeat/capacity report interval. */
  reportIntervalMs: number;
  instancesDir: string;
  /**
   * Where snapshots are written before the image service imports them (must be one of its
   * KUMO_IMAGE_IMPORT_DIRS). Unset: createImage fails on this agent.
   */
  snapshotDir?: string;
  /**
   * The node's noVNC websocket proxy (agent/console-proxy.ts): `listen` is `host:port` (port 0: any
   * free one), `publicUrl` the base browsers reach it at (default: from `listen`). Unset: no proxy;
   * console URLs of this node's servers then point at the compute API's explanatory page.
   */
  console?: { listen: string; publicUrl?: string; allowedOrigins?: string[]; novncDir?: string };
  log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

/**
 * The compute agent: one process serving one or more hosts (many fake hosts for scale tests), each
 * consuming its own `kumo.compute.<host>` queue. It holds no database credentials: it reports
 * through AMQP casts to `kumo.compute` (heartbeat + capacity, and the outcome of every sync).
 */
export class ComputeAgent {
  readonly syncers = new Map<string, HostSyncer>();
  private readonly connection: AmqpConnection;
  private readonly transport: AmqpRpcTransport;
  private channel?: ReturnType<AmqpConnection['createChannel']>;
  private timer?: NodeJS.Timeout;
  private readonly log: NonNullable<AgentOptions['log']>;
  /** The noVNC proxy, while it listens. */
  consoleProxy?: ConsoleProxy;
  /** Hosts whose first report after start() is still to be sent (it carries `startup`). */
  private readonly starting = new Set<string>();

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.connection = new AmqpConnection({ url: options.amqpUrl, name: `compute-agent@${os.hostname()}`, heartbeatSeconds: 30, reconnectSeconds: 1 });
    this.transport = new AmqpRpcTransport(this.connection, 'compute-agent', 30000);
    // Live migration: the source's agent asks the destination's agent over its own queue (the
    // same process when one agent serves both fake hosts).
    const ask = async <T>(host: string, method: string, data: unknown): Promise<T> => {
      const reply = (await this.transport.request(agentQueue('compute', host), `compute_agent.${method}`, data, { timeoutMs: 660_000 })) as T;
      return reply;
    };
    const peers: MigrationPeers = {
      prepareIncoming: async (host, spec) => (await ask<{ uri: string }>(host, 'prepare_incoming', { host, spec } satisfies PrepareIncomingRequest)).uri,
      finishIncoming: async (host, instanceId) => (await ask<{ state: string }>(host, 'finish_incoming', { host, instanceId } satisfies DomainRef)).state,
      abortIncoming: async (host, instanceId) => void (await ask(host, 'abort_incoming', { host, instanceId } satisfies DomainRef)),
      domainState: async (host, instanceId) => (await ask<{ state: string | null }>(host, 'domain_state', { host, instanceId } satisfies DomainRef)).state,
    };
    for (const h of options.hosts) {
      this.syncers.set(h.host, new HostSyncer(h.host, h.driver, (r) => this.sendReport(r), options.instancesDir, options.snapshotDir ? (d) => this.snapshot(d) : undefined, peers));
    }
  }

  private async sendReport(r: AgentReport): Promise<void> {
    await this.transport.cast(serviceQueue('compute'), 'compute.agent_report', r);
  }

  /**
   * createImage: the instance's disk goes into the snapshot directory, then `image.import_file`
   * fills the queued image (checksums and inspection as for an upload). A FakeDriver domain has no
   * disk of its own, so its snapshot is the image it booted from.
   */
  private async snapshot(d: AgentSyncRequest): Promise<void> {
    const imageId = d.snapshot!.imageId;
    const source = d.spec.image?.path;
    if (!source) throw new Error(`instance ${d.instanceId} has no local disk image to snapshot`);
    await fs.mkdir(this.options.snapshotDir!, { recursive: true });
    const target = path.join(this.options.snapshotDir!, `${imageId}.snapshot`);
    await fs.copyFile(source, target);
    try {
      await this.transport.client('image').call('import_file', { imageId, path: target, removeSource: true }, { timeoutMs: 600000 });
    } finally {
      await fs.rm(target, { force: true });
    }
  }

  private syncerOf(host: string): HostSyncer {
    const s = this.syncers.get(host);
    if (!s) throw new Error(`host ${host} is not served here`);
    return s;
  }

  async start(): Promise<void> {
    this.connection.connect();
    const queues = this.options.hosts.map((h) => agentQueue('compute', h.host));
    this.channel = this.connection.createChannel({
      name: 'compute-agent',
      json: false,
      setup: async (ch: Channel) => {
        await ch.prefetch(256);
        for (const q of queues) {
          await ch.assertQueue(q, { durable: true });
          await ch.consume(q, (msg) => msg && void this.onMessage(ch, msg), { noAck: false });
        }
      },
    });
    await this.channel.waitForConnect();
    if (this.options.console) await this.startConsoleProxy(this.options.console);
    for (const h of this.options.hosts) this.starting.add(h.host);
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.options.reportIntervalMs);
    this.timer.unref();
    this.log('info', `compute agent serving ${queues.join(', ')}`);
  }

  /** A proxy that cannot start (port in use) is logged; the agent runs on without consoles. */
  private async startConsoleProxy(c: NonNullable<AgentOptions['console']>): Promise<void> {
    const proxy = new ConsoleProxy({
      ...c,
      hosts: this.options.hosts.map((h) => h.host),
      log: this.log,
      authorize: (token, hosts) => this.transport.client('compute').call('console_auth', { token, hosts }, { timeoutMs: 10000 }),
      vncSocketOf: async (host, instanceId) => (await this.syncerOf(host).driver.getConsole(instanceId)).vncSocket,
    });
    try {
      await proxy.start();
      this.consoleProxy = proxy;
    } catch (err) {
      this.log('error', `${(err as Error).message}; this node serves no VNC consoles`);
    }
  }

  async heartbeat(): Promise<void> {
    for (const h of this.options.hosts) {
      const caps = await h.driver.getCapabilities();
      const domains = await h.driver.listDomains();
      const report: HostReport = {
        host: h.host,
        hypervisorType: caps.driver === 'fake' ? 'fake' : 'QEMU',
        hypervisorVersion: caps.hypervisorVersion,
        vcpus: h.vcpus,
        memoryMb: h.memoryMb,
        localGb: h.localGb,
        instances: domains.map((d) => d.id),
        cpuInfo: { accel: caps.accel, arch: 'x86_64' },
        cpuAllocationRatio: h.cpuAllocationRatio,
        ramAllocationRatio: h.ramAllocationRatio,
        diskAllocationRatio: h.diskAllocationRatio,
        availabilityZone: h.availabilityZone,
        numaTopology: numaTopologyOf(h),
        cpuDedicatedSet: h.cpuDedicatedSet ?? [],
        consoleUrl: this.consoleProxy?.pageUrl,
        hostUptime: { seconds: Math.floor(os.uptime()), load: os.loadavg() as [number, number, number] },
        ...(this.starting.has(h.host) ? { startup: true } : {}),
      };
      await this.transport.cast(serviceQueue('compute'), 'compute.host_report', report).then(
        () => this.starting.delete(h.host),
        (err: unknown) => this.log('warn', `heartbeat of ${h.host} not sent: ${(err as Error).message}`),
      );
    }
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage): Promise<void> {
    let env: Envelope;
    try {
      env = JSON.parse(msg.content.toString('utf8')) as Envelope;
      if (!isCompatible(env.v)) throw new Error(`contract version ${env.v}`);
    } catch (err) {
      this.log('error', `dropping an unreadable message: ${(err as Error).message}`);
      ch.ack(msg);
      return;
    }
    const replyTo = msg.properties.replyTo as string | undefined;
    const reply = (body: unknown) => {
      if (replyTo) ch.sendToQueue(replyTo, Buffer.from(JSON.stringify({ v: CONTRACT_VERSION, ...(body as object) })), { correlationId: msg.properties.correlationId as string });
    };
    try {
      switch (env.pattern) {
        case 'compute_agent.sync': {
          const req = env.data as AgentSyncRequest;
          const s = this.syncers.get(req.host);
          if (s) s.enqueue(req);
          else this.log('warn', `sync for unknown host ${req.host}`);
          break;
        }
        case 'compute_agent.console_output': {
          const req = env.data as ConsoleOutputRequest;
          const s = this.syncers.get(req.host);
          if (!s) throw new Error(`host ${req.host} is not served here`);
          let output = await s.driver.getConsoleOutput(req.instanceId);
          // The last maxLines pieces between newlines, as Nova's _tail_log: a log ending in a
          // newline gives maxLines - 1 lines and the newline (Tempest counts exactly that).
          if (req.maxLines !== undefined) output = req.maxLines === 0 ? '' : output.split('\n').slice(-req.maxLines).join('\n');
          reply({ ok: true, data: { output } });
          break;
        }
        case 'compute_agent.prepare_incoming': {
          const req = env.data as PrepareIncomingRequest;
          reply({ ok: true, data: { uri: await this.syncerOf(req.host).prepareIncoming(req.spec) } });
          break;
        }
        case 'compute_agent.finish_incoming': {
          const req = env.data as DomainRef;
          reply({ ok: true, data: { state: await this.syncerOf(req.host).finishIncoming(req.instanceId) } });
          break;
        }
        case 'compute_agent.abort_incoming': {
          const req = env.data as DomainRef;
          await this.syncerOf(req.host).abortIncoming(req.instanceId);
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.domain_state': {
          const req = env.data as DomainRef;
          reply({ ok: true, data: { state: await this.syncerOf(req.host).domainState(req.instanceId) } });
          break;
        }
        case 'compute_agent.attach_interface': {
          // Hot-plug when the domain runs or is paused, definition only when it is off (driver contract).
          const req = env.data as AttachInterfaceRequest;
          await this.syncerOf(req.host).driver.attachNic(req.instanceId, nicOf(req.port));
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.detach_interface': {
          const req = env.data as DetachInterfaceRequest;
          const driver = this.syncerOf(req.host).driver;
          const nicId = nicIdOf(req.portId);
          // Already gone (a repeated request): nothing to do.
          if ((await driver.getInfo(req.instanceId)).spec.nics.some((n) => n.id === nicId)) await driver.detachNic(req.instanceId, nicId, { timeoutMs: 30000 });
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.attach_volume': {
          // Hot-plug when the domain runs or is paused, definition only when it is off (driver contract); a repeated request finds it there.
          const req = env.data as AttachVolumeRequest;
          const driver = this.syncerOf(req.host).driver;
          const disk = volumeDiskOf(req.volume);
          if (!(await driver.getInfo(req.instanceId)).spec.disks.some((d) => d.id === disk.id)) await driver.attachDisk(req.instanceId, disk);
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.detach_volume': {
          const req = env.data as DetachVolumeRequest;
          const driver = this.syncerOf(req.host).driver;
          const diskId = volumeDiskIdOf(req.volumeId);
          // Already gone (a repeated request, or the domain was re-created without it): nothing to do.
          if ((await driver.getInfo(req.instanceId)).spec.disks.some((d) => d.id === diskId)) await driver.detachDisk(req.instanceId, diskId, { timeoutMs: 30000 });
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.set_password': {
          const req = env.data as SetPasswordRequest;
          await this.syncerOf(req.host).driver.setUserPassword(req.instanceId, req.user, req.password);
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.diagnostics': {
          const req = env.data as DiagnosticsRequest;
          const driver = this.syncerOf(req.host).driver;
          const [stats, info] = await Promise.all([driver.getStats(req.instanceId), driver.getInfo(req.instanceId)]);
          reply({ ok: true, data: { diagnostics: diagnosticsOf(stats), standard: standardDiagnosticsOf(stats, info.spec) } });
          break;
        }
        case 'compute_agent.control_migration': {
          const req = env.data as ControlMigrationRequest;
          reply({ ok: true, data: { found: this.syncerOf(req.host).controlMigration(req.instanceId, req.migrationId, req.op) } });
          break;
        }
        case 'compute_agent.trigger_crash_dump': {
          const req = env.data as DomainRef;
          await this.syncerOf(req.host).driver.injectNmi(req.instanceId);
          reply({ ok: true, data: { ok: true } });
          break;
        }
        case 'compute_agent.get_console': {
          const req = env.data as GetConsoleRequest;
          const c = await this.syncerOf(req.host).driver.getConsole(req.instanceId);
          reply({ ok: true, data: { vncSocket: c.vncSocket, serialSocket: c.serialSocket } });
          break;
        }
        default:
          reply({ ok: false, error: { code: 'unknown_method', message: `unknown pattern ${env.pattern}`, service: 'compute-agent' } });
      }
    } catch (err) {
      const name = (err as Error).name;
      const code = name === 'DomainNotFound' || name === 'DeviceNotFound' ? 'not_found' : name === 'InvalidState' || name === 'DeviceAlreadyExists' ? 'conflict' : 'internal';
      // The driver's error code travels along, so the API can answer as Nova does (e.g. GuestAgentUnavailable → 409).
      const details = isHypervisorError(err) ? { hypervisorCode: err.code } : undefined;
      reply({ ok: false, error: { code, message: (err as Error).message, service: 'compute-agent', details } });
    }
    // Acked once recorded: the sync is a trigger, the work is re-triggered by the reconciler if this process dies.
    ch.ack(msg);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.consoleProxy?.close();
    for (const s of this.syncers.values()) s.close();
    await this.channel?.close().catch(() => undefined);
    await this.transport.close();
    await this.connection.close();
  }
}
