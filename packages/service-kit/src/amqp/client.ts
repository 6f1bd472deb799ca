import { randomUUID } from 'node:crypto';
import {
  type CallOptions,
  CONTRACT_VERSION,
  type Envelope,
  type EventName,
  type EventPayloads,
  EVENTS_EXCHANGE,
  isCompatible,
  RpcError,
  type RpcReply,
  type RpcTransport,
  type ServiceName,
  ServiceRpcClient,
} from '@kumo/contracts';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { AmqpConnection } from './connection.js';
import type { AmqpMetrics } from './metrics.js';

const REPLY_QUEUE = 'amq.rabbitmq.reply-to';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: RpcError) => void;
  timer: NodeJS.Timeout;
  pattern: string;
  started: bigint;
}

/**
 * Sends RPCs, casts and events for one service.
 *
 * RPC: the request goes to the target's durable queue with `replyTo` = RabbitMQ's direct
 * reply-to pseudo-queue on our RPC channel and an `expiration` equal to the deadline, so a
 * request nobody waits for any more is discarded instead of executed late. The promise
 * resolves with the reply's data or rejects with a typed RpcError:
 *   - `unavailable` when the broker is unreachable for the whole deadline or the channel that
 *     should carry the reply died (the request may still have been processed),
 *   - `timeout` when no reply came in time,
 *   - the receiver's own code (`not_found`, `conflict`, ...) otherwise.
 * Casts and events are persistent and published with publisher confirms: when the promise
 * resolves, the broker has the message.
 */
export class AmqpRpcTransport implements RpcTransport {
  private readonly pending = new Map<string, Pending>();
  private readonly rpcChannel: ChannelWrapper;
  private readonly publishChannel: ChannelWrapper;
  /** Queues this process has declared before casting to them (see cast). */
  private readonly declaredQueues = new Set<string>();

  constructor(
    private readonly connection: AmqpConnection,
    private readonly service: string,
    private readonly defaultTimeoutMs: number,
    private readonly metrics?: AmqpMetrics,
  ) {
    this.rpcChannel = connection.createChannel({
      name: `${service}-rpc-client`,
      json: false,
      confirm: false,
      setup: async (ch: Channel) => {
        // Replies addressed to a previous channel can never arrive now.
        this.failPending('unavailable', 'the broker connection was lost before the reply arrived');
        await ch.consume(REPLY_QUEUE, (msg) => msg && this.onReply(msg), { noAck: true });
      },
    });
    this.publishChannel = connection.createChannel({
      name: `${service}-publisher`,
      json: false,
      confirm: true,
      setup: async (ch: ConfirmChannel) => {
        await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
      },
    });
  }

  client<S extends ServiceName>(service: S): ServiceRpcClient<S> {
    return new ServiceRpcClient(this, service);
  }

  private envelope(pattern: string, data: unknown, requestId?: string): Buffer {
    const env: Envelope = { v: CONTRACT_VERSION, pattern, data, ctx: { requestId, from: this.service } };
    return Buffer.from(JSON.stringify(env));
  }

  async request(queue: string, pattern: string, data: unknown, options: CallOptions): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    const started = process.hrtime.bigint();
    const deadline = Date.now() + timeoutMs;
    const target = queue.replace(/^kumo\./, '');
    if (!this.connection.isConnected() && !(await this.connection.waitConnected(timeoutMs))) {
      this.metrics?.observeCall(pattern, 'unavailable', started);
      throw new RpcError({ code: 'unavailable', message: `message broker unreachable at ${this.connection.displayUrl} for ${timeoutMs} ms (calling ${pattern})`, service: target, pattern });
    }
    await this.rpcChannel.waitForConnect();
    const correlationId = randomUUID();
    const remaining = Math.max(1, deadline - Date.now());
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        this.metrics?.observeCall(pattern, 'timeout', started);
        reject(new RpcError({ code: 'timeout', message: `no reply to ${pattern} within ${timeoutMs} ms`, service: target, pattern }));
      }, remaining);
      this.pending.set(correlationId, { resolve, reject, timer, pattern, started });
    });
    try {
      await this.rpcChannel.sendToQueue(queue, this.envelope(pattern, data, options.requestId), {
        correlationId,
        replyTo: REPLY_QUEUE,
        messageId: randomUUID(),
        type: pattern,
        contentType: 'application/json',
        expiration: String(remaining),
        persistent: false,
      });
    } catch (err) {
      const p = this.pending.get(correlationId);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(correlationId);
      }
      this.metrics?.observeCall(pattern, 'unavailable', started);
      throw new RpcError({ code: 'unavailable', message: `could not send ${pattern}: ${(err as Error).message}`, service: target, pattern });
    }
    return result;
  }

  private onReply(msg: ConsumeMessage) {
    const id = msg.properties.correlationId as string | undefined;
    const p = id ? this.pending.get(id) : undefined;
    if (!p || !id) return; // a late reply to a call that already timed out
    this.pending.delete(id);
    clearTimeout(p.timer);
    let reply: RpcReply;
    try {
      reply = JSON.parse(msg.content.toString('utf8')) as RpcReply;
    } catch {
      this.metrics?.observeCall(p.pattern, 'error', p.started);
      p.reject(new RpcError({ code: 'internal', message: `unparseable reply to ${p.pattern}`, pattern: p.pattern }));
      return;
    }
    if (!isCompatible(reply.v)) {
      this.metrics?.observeCall(p.pattern, 'error', p.started);
      p.reject(new RpcError({ code: 'version_mismatch', message: `reply to ${p.pattern} has contract version ${String(reply.v)}, expected ${CONTRACT_VERSION}`, pattern: p.pattern }));
      return;
    }
    if (reply.ok) {
      this.metrics?.observeCall(p.pattern, 'ok', p.started);
      p.resolve(reply.data);
    } else {
      this.metrics?.observeCall(p.pattern, reply.error.code, p.started);
      p.reject(new RpcError({ ...reply.error, pattern: p.pattern }));
    }
  }

  private failPending(code: 'unavailable', message: string) {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      this.metrics?.observeCall(p.pattern, code, p.started);
      p.reject(new RpcError({ code, message: `${p.pattern}: ${message}`, pattern: p.pattern }));
    }
  }

  /**
   * Fire-and-forget command to a queue (Nova's "cast"), e.g. to a node agent. Persistent; resolves
   * once the broker confirmed it. The receiver's handler must be idempotent.
   */
  async cast(queue: string, pattern: string, data: unknown, options: { requestId?: string; timeoutMs?: number } = {}): Promise<string> {
    const messageId = randomUUID();
    // The broker drops (and still confirms) a message sent to a queue nobody has declared yet —
    // e.g. an agent's first report on a fresh broker, sent before compute started consuming. The
    // queue is declared as every consumer declares it (durable, no arguments), once per process.
    if (!this.declaredQueues.has(queue)) {
      await this.confirmed(this.publishChannel.assertQueue(queue, { durable: true }), `declare queue ${queue}`, options.timeoutMs);
      this.declaredQueues.add(queue);
    }
    await this.confirmed(
      this.publishChannel.sendToQueue(queue, this.envelope(pattern, data, options.requestId), { messageId, type: pattern, contentType: 'application/json', persistent: true }),
      pattern,
      options.timeoutMs,
    );
    return messageId;
  }

  /** Publishes a fact on `kumo.events`. Persistent, confirmed; consumers must be idempotent. */
  async publish<E extends EventName>(event: E, payload: EventPayloads[E], options: { requestId?: string; timeoutMs?: number } = {}): Promise<string> {
    const messageId = randomUUID();
    await this.confirmed(
      this.publishChannel.publish(EVENTS_EXCHANGE, event, this.envelope(event, payload, options.requestId), { messageId, type: event, contentType: 'application/json', persistent: true }),
      event,
      options.timeoutMs,
    );
    return messageId;
  }

  private async confirmed(send: Promise<unknown>, pattern: string, timeoutMs = this.defaultTimeoutMs): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RpcError({ code: 'unavailable', message: `the broker did not confirm ${pattern} within ${timeoutMs} ms (${this.connection.displayUrl})`, pattern })), timeoutMs);
    });
    try {
      await Promise.race([send, timeout]);
    } catch (err) {
      if (err instanceof RpcError) throw err;
      throw new RpcError({ code: 'unavailable', message: `could not publish ${pattern}: ${(err as Error).message}`, pattern });
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.failPending('unavailable', 'the client is shutting down');
    await Promise.all([this.rpcChannel.close().catch(() => undefined), this.publishChannel.close().catch(() => undefined)]);
  }
}
