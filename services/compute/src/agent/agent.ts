import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type AgentReport, type AgentSyncRequest, agentQueue, CONTRACT_VERSION, type ConsoleOutputRequest, type Envelope, type HostReport, isCompatible, serviceQueue } from '@kumo/contracts';
import type { HypervisorDriver } from '@kumo/hypervisor';
import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import type { Channel, ConsumeMessage } from 'amqplib';
import { HostSyncer } from './syncer.js';

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

  constructor(private readonly options: AgentOptions) {
    this.log = options.log ?? (() => undefined);
    this.connection = new AmqpConnection({ url: options.amqpUrl, name: `compute-agent@${os.hostname()}`, heartbeatSeconds: 30, reconnectSeconds: 1 });
    this.transport = new AmqpRpcTransport(this.connection, 'compute-agent', 30000);
    for (const h of options.hosts) {
      this.syncers.set(h.host, new HostSyncer(h.host, h.driver, (r) => this.sendReport(r), options.instancesDir, options.snapshotDir ? (d) => this.snapshot(d) : undefined));
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
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.options.reportIntervalMs);
    this.timer.unref();
    this.log('info', `compute agent serving ${queues.join(', ')}`);
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
      };
      await this.transport.cast(serviceQueue('compute'), 'compute.host_report', report).catch((err: unknown) => this.log('warn', `heartbeat of ${h.host} not sent: ${(err as Error).message}`));
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
          if (req.maxLines !== undefined) {
            const lines = output.replace(/\n$/, '').split('\n');
            output = req.maxLines === 0 ? '' : lines.slice(-req.maxLines).join('\n') + '\n';
          }
          reply({ ok: true, data: { output } });
          break;
        }
        default:
          reply({ ok: false, error: { code: 'unknown_method', message: `unknown pattern ${env.pattern}`, service: 'compute-agent' } });
      }
    } catch (err) {
      reply({ ok: false, error: { code: (err as Error).name === 'DomainNotFound' ? 'not_found' : 'internal', message: (err as Error).message, service: 'compute-agent' } });
    }
    // Acked once recorded: the sync is a trigger, the work is re-triggered by the reconciler if this process dies.
    ch.ack(msg);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const s of this.syncers.values()) s.close();
    await this.channel?.close().catch(() => undefined);
    await this.transport.close();
    await this.connection.close();
  }
}
