import { Logger } from '@nestjs/common';
import amqpConnectionManager, { type AmqpConnectionManager, type ChannelWrapper, type CreateChannelOpts } from 'amqp-connection-manager';

export interface AmqpConnectionOptions {
  url: string;
  /** Shown to operators in `rabbitmqctl list_connections` (client property `connection_name`). */
  name: string;
  heartbeatSeconds: number;
  reconnectSeconds: number;
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * One broker connection per process, shared by the RPC server, the RPC client and the event
 * publisher. amqp-connection-manager reconnects after a broker restart and re-runs every channel's
 * setup (queues, bindings, consumers), so callers never hold a dead channel for long.
 */
export class AmqpConnection {
  private readonly logger = new Logger('amqp');
  private manager?: AmqpConnectionManager;
  private connected = false;
  private waiters = new Set<() => void>();
  private connectListeners: (() => void)[] = [];
  /** Times the connection came back after being lost (for tests and metrics). */
  reconnects = 0;
  private everConnected = false;

  constructor(readonly options: AmqpConnectionOptions) {}

  get displayUrl(): string {
    return redactUrl(this.options.url);
  }

  /** Starts connecting in the background; never blocks on an unreachable broker. */
  connect(): this {
    if (this.manager) return this;
    this.manager = amqpConnectionManager.connect([this.options.url], {
      heartbeatIntervalInSeconds: this.options.heartbeatSeconds,
      reconnectTimeInSeconds: this.options.reconnectSeconds,
      // noDelay: without it Nagle's algorithm meets delayed ACKs and a small RPC waits ~40 ms.
      connectionOptions: { noDelay: true, clientProperties: { connection_name: this.options.name } },
    });
    this.manager.on('connect', () => {
      this.connected = true;
      if (this.everConnected) {
        this.reconnects++;
        this.logger.log(`reconnected to the broker at ${this.displayUrl}`);
      } else {
        this.logger.log(`connected to the broker at ${this.displayUrl}`);
      }
      this.everConnected = true;
      for (const w of this.waiters) w();
      this.waiters.clear();
      for (const l of this.connectListeners) l();
    });
    this.manager.on('disconnect', ({ err }) => {
      if (this.connected) {
        this.logger.warn(`lost the broker connection (${err?.message ?? 'closed'}); reconnecting every ${this.options.reconnectSeconds}s`);
      }
      this.connected = false;
    });
    this.manager.on('connectFailed', ({ err }) => {
      this.logger.warn(
        `cannot reach the broker at ${this.displayUrl}: ${err?.message ?? 'unknown error'}. ` +
          `Check that RabbitMQ runs ('rabbitmqctl status') and that the vhost and user exist; retrying.`,
      );
    });
    this.manager.on('blocked', ({ reason }) => this.logger.warn(`the broker blocked publishing: ${reason} (low memory or disk on the broker?)`));
    return this;
  }

  /** Called after every (re)connection. */
  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Resolves true once connected, or false after `timeoutMs`. */
  waitConnected(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(false);
      }, timeoutMs);
      this.waiters.add(done);
    });
  }

  createChannel(options: CreateChannelOpts): ChannelWrapper {
    if (!this.manager) this.connect();
    const channel = this.manager!.createChannel(options);
    // A setup that fails (the broker closed the channel mid-setup, e.g. during shutdown or a
    // restart) is emitted as 'error'; unheard, that event would crash the process. The wrapper
    // retries the setup on the next connection, so a log line is the right answer.
    channel.on('error', (err: Error) => this.logger.warn(`channel ${options.name ?? '?'}: ${err.message}; it is set up again on the next connection`));
    return channel;
  }

  async close(): Promise<void> {
    const m = this.manager;
    this.manager = undefined;
    this.connected = false;
    for (const w of this.waiters) w();
    this.waiters.clear();
    if (m) await m.close();
  }
}
