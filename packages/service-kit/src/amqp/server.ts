import { Logger } from '@nestjs/common';
import { type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { CONTRACT_VERSION, type Envelope, EVENTS_EXCHANGE, isCompatible, type RpcErrorBody, type RpcReply, RpcError } from '@kumo/contracts';
import type { ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConsumeMessage } from 'amqplib';
import { lastValueFrom } from 'rxjs';
import type { AmqpConnection } from './connection.js';
import { KumoAmqpContext, type KumoAmqpMessageInfo } from './context.js';
import type { AmqpMetrics } from './metrics.js';

/**
 * Kumo's AMQP transport for @nestjs/microservices.
 *
 * Protocol, per message:
 *   1. A consumer on a durable queue receives it (manual ack, bounded by `prefetch`).
 *   2. The envelope {v, pattern, data, ctx} is checked: unparseable or another major version ->
 *      refused (an RPC gets an error reply), acked so it does not loop.
 *   3. The handler runs (a @MessagePattern for RPCs and casts on the service queues, an
 *      @EventPattern for events on `kumo.events`).
 *   4. Only after it has finished: an RPC's reply is sent to `replyTo`, then the message is acked.
 *      So a consumer that dies mid-handler leaves the message unacked and the broker redelivers
 *      it (`redelivered: true`); handlers make that harmless with `InboxService.runOnce`.
 *   5. A failing RPC handler answers a typed error ({ok:false, error:{code, message}}) and acks.
 *      A failing event/cast handler is requeued once; on the second failure it is dropped with an
 *      error log (a poison message must not block the queue).
 *
 * After a broker restart amqp-connection-manager reconnects and re-runs `setup`, which declares
 * the queues and bindings again and re-registers the consumers.
 */
/**
 * Extras of an @EventPattern whose events every process must see (e.g. token revocations):
 * such keys are bound to an exclusive, server-named queue per process instead of the
 * service's shared events queue.
 */
export const BROADCAST = { broadcast: true } as const;

export interface KumoAmqpServerOptions {
  service: string;
  connection: AmqpConnection;
  /** Queues whose messages go to @MessagePattern handlers (RPCs and casts). */
  rpcQueues: string[];
  /** Queue bound to `kumo.events` for the @EventPattern handlers' keys. */
  eventsQueue?: string;
  prefetch: number;
  metrics?: AmqpMetrics;
  /** Runs a handler inside a logging context so its log lines carry the message's ids. */
  runInContext?: <T>(fn: () => T, bindings: Record<string, unknown>) => T;
}

export class KumoAmqpServer extends Server implements CustomTransportStrategy {
  private readonly log = new Logger('amqp-server');
  private channel?: ChannelWrapper;
  private inFlight = 0;
  private readonly unknownPatterns = new Set<string>();

  constructor(private readonly options: KumoAmqpServerOptions) {
    super();
  }

  listen(callback: () => void): void {
    const handlers = this.getHandlers();
    const isBroadcast = (h: { extras?: Record<string, unknown> }) => h.extras?.broadcast === true;
    const eventKeys = [...handlers.entries()].filter(([, h]) => h.isEventHandler && !isBroadcast(h)).map(([p]) => p);
    const broadcastKeys = [...handlers.entries()].filter(([, h]) => h.isEventHandler && isBroadcast(h)).map(([p]) => p);
    const { connection, rpcQueues, eventsQueue, prefetch } = this.options;
    this.channel = connection.createChannel({
      name: `${this.options.service}-server`,
      json: false,
      confirm: false,
      setup: async (ch: Channel) => {
        await ch.prefetch(prefetch);
        for (const queue of rpcQueues) {
          await ch.assertQueue(queue, { durable: true });
          await ch.consume(queue, (msg) => msg && void this.onMessage(ch, msg, queue, false), { noAck: false });
        }
        if (eventsQueue && eventKeys.length > 0) {
          await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
          await ch.assertQueue(eventsQueue, { durable: true });
          for (const key of eventKeys) await ch.bindQueue(eventsQueue, EVENTS_EXCHANGE, key);
          await ch.consume(eventsQueue, (msg) => msg && void this.onMessage(ch, msg, eventsQueue, true), { noAck: false });
        }
        if (broadcastKeys.length > 0) {
          await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
          const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
          for (const key of broadcastKeys) await ch.bindQueue(queue, EVENTS_EXCHANGE, key);
          await ch.consume(queue, (msg) => msg && void this.onMessage(ch, msg, queue, true), { noAck: false });
        }
        this.log.log(`consuming ${[...rpcQueues, ...(eventsQueue && eventKeys.length ? [eventsQueue] : [])].join(', ')} (prefetch ${prefetch})`);
      },
    });
    // Do not wait for the broker: the HTTP API and /healthz must come up (and say "broker down")
    // even when RabbitMQ is unreachable at start-up.
    callback();
  }

  /** Messages whose handler is still running (a graceful stop waits for them). */
  get busy(): number {
    return this.inFlight;
  }

  private async onMessage(ch: Channel, msg: ConsumeMessage, queue: string, fromExchange: boolean): Promise<void> {
    const started = process.hrtime.bigint();
    const props = msg.properties;
    const replyTo: string | undefined = props.replyTo || undefined;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(msg.content.toString('utf8')) as Envelope;
      if (!envelope || typeof envelope !== 'object' || typeof envelope.pattern !== 'string') throw new Error('not an envelope');
    } catch {
      this.log.error(`dropping an unparseable message on ${queue} (message id ${props.messageId ?? '?'}, type ${props.type ?? '?'})`);
      this.reply(ch, replyTo, props.correlationId, { code: 'bad_request', message: 'unparseable message', service: this.options.service });
      this.settle(ch, msg, 'ack');
      return;
    }
    const kind: KumoAmqpMessageInfo['kind'] = fromExchange ? 'event' : replyTo ? 'rpc' : 'cast';
    const pattern = fromExchange ? msg.fields.routingKey : envelope.pattern;
    const outcome = (o: string) => this.options.metrics?.observeHandled(pattern, kind, o, started);
    if (!isCompatible(envelope.v)) {
      this.log.error(`refusing ${pattern} from ${envelope.ctx?.from ?? '?'}: contract version ${String(envelope.v)}, this service speaks ${CONTRACT_VERSION}`);
      this.reply(ch, replyTo, props.correlationId, { code: 'version_mismatch', message: `contract version ${String(envelope.v)} is not compatible with ${CONTRACT_VERSION}`, service: this.options.service });
      this.settle(ch, msg, 'ack');
      outcome('refused');
      return;
    }
    const handler = this.getHandlers().get(pattern);
    if (!handler || Boolean(handler.isEventHandler) !== fromExchange) {
      // Warn once per pattern: a caller retrying a method we lack must not flood the log.
      if (!this.unknownPatterns.has(pattern)) this.log.warn(`no handler for ${kind} ${pattern} on ${queue}; dropping it (further ones are logged at debug level)`);
      else this.log.debug(`no handler for ${kind} ${pattern} on ${queue}; dropping it`);
      this.unknownPatterns.add(pattern);
      this.reply(ch, replyTo, props.correlationId, { code: 'unknown_method', message: `${this.options.service} has no method ${pattern}`, service: this.options.service });
      this.settle(ch, msg, 'ack');
      outcome('unknown');
      return;
    }
    const info: KumoAmqpMessageInfo = {
      messageId: String(props.messageId ?? `${queue}:${msg.fields.deliveryTag}`),
      pattern,
      kind,
      redelivered: msg.fields.redelivered,
      queue,
      requestId: envelope.ctx?.requestId,
      from: envelope.ctx?.from,
    };
    const run = async () => {
      const result = await handler(envelope.data, new KumoAmqpContext([info]));
      return lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
    };
    this.inFlight++;
    try {
      const bindings = { msg_id: info.messageId, pattern, req_id: info.requestId, redelivered: info.redelivered || undefined };
      const value = this.options.runInContext ? await this.options.runInContext(run, bindings) : await run();
      this.replyOk(ch, replyTo, props.correlationId, value);
      this.settle(ch, msg, 'ack');
      outcome('ok');
    } catch (err) {
      const body = toErrorBody(err, this.options.service);
      if (kind === 'rpc') {
        if (body.code === 'internal') this.log.error({ err, pattern, msgId: info.messageId }, `RPC ${pattern} failed`);
        this.reply(ch, replyTo, props.correlationId, body);
        this.settle(ch, msg, 'ack');
      } else if (!msg.fields.redelivered) {
        this.log.warn({ err, pattern }, `${kind} ${pattern} failed (${body.message}); requeueing it once`);
        this.settle(ch, msg, 'requeue');
      } else {
        this.log.error({ err, pattern, msgId: info.messageId }, `${kind} ${pattern} failed again after redelivery; dropping it`);
        this.settle(ch, msg, 'drop');
      }
      outcome('error');
    } finally {
      this.inFlight--;
    }
  }

  private replyOk(ch: Channel, replyTo: string | undefined, correlationId: string | undefined, data: unknown) {
    if (!replyTo) return;
    const reply: RpcReply = { v: CONTRACT_VERSION, ok: true, data: data === undefined ? null : data };
    this.sendReply(ch, replyTo, correlationId, reply);
  }

  private reply(ch: Channel, replyTo: string | undefined, correlationId: string | undefined, error: RpcErrorBody) {
    if (!replyTo) return;
    this.sendReply(ch, replyTo, correlationId, { v: CONTRACT_VERSION, ok: false, error });
  }

  private sendReply(ch: Channel, replyTo: string, correlationId: string | undefined, reply: RpcReply) {
    try {
      ch.sendToQueue(replyTo, Buffer.from(JSON.stringify(reply)), { correlationId, contentType: 'application/json' });
    } catch (err) {
      // The channel closed under us (broker restart): the caller times out and may retry.
      this.log.warn(`could not send a reply to ${replyTo}: ${(err as Error).message}`);
    }
  }

  /**
   * Acks on the channel the message arrived on. If that channel has died meanwhile, the broker
   * has already requeued the message, and acking on the new channel would close it
   * (unknown delivery tag), so there is nothing to do.
   */
  private settle(ch: Channel, msg: ConsumeMessage, how: 'ack' | 'requeue' | 'drop') {
    try {
      if (how === 'ack') ch.ack(msg);
      else ch.nack(msg, false, how === 'requeue');
    } catch (err) {
      this.log.warn(`could not ${how} message ${msg.properties.messageId ?? msg.fields.deliveryTag}: ${(err as Error).message}; the broker will redeliver it`);
    }
  }

  on(): void {
    throw new Error('KumoAmqpServer has no events to subscribe to; watch AmqpConnection instead');
  }

  unwrap<T>(): T {
    return this.channel as T;
  }

  async close(): Promise<void> {
    const c = this.channel;
    this.channel = undefined;
    if (c) await c.close().catch(() => undefined);
  }
}

export function toErrorBody(err: unknown, service: string): RpcErrorBody {
  if (err instanceof RpcError) return { ...err.toBody(), service: err.service ?? service };
  const status = (err as { status?: number; getStatus?: () => number })?.getStatus?.() ?? (err as { status?: number })?.status;
  const message = err instanceof Error ? err.message : String(err);
  switch (status) {
    case 400:
      return { code: 'bad_request', message, service };
    case 404:
      return { code: 'not_found', message, service };
    case 409:
      return { code: 'conflict', message, service };
    case 403:
    case 413:
      return { code: 'over_limit', message, service };
    default:
      return { code: 'internal', message: `${service} failed: ${message}`, service };
  }
}
