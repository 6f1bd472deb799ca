import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EventName, EventPayloads } from '@kumo/contracts';
import type { Db } from '../database/sql.js';
import type { AmqpRpcTransport } from './client.js';

/**
 * Publishes the events a service queued in its `event_outbox` table (transactional outbox): a
 * change and its event commit together, and the event leaves once the broker confirms it. A
 * broker that is down delays events, never loses them; a crash between publish and delete can
 * send one twice (consumers are idempotent, contracts/events.ts).
 *
 * A drain runs after every `kick()` and every 5 s as a safety net, never two at once, none after
 * shutdown. Each batch is one transaction: rows locked oldest first (`SKIP LOCKED`, so API
 * replicas share the work), published, deleted. Services subclass it only to be injectable with
 * their own `Db` (the table is `event_outbox` in the service's schema).
 */
export abstract class OutboxRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  protected readonly log = new Logger('events');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly outboxDb: Db,
    private readonly transport: AmqpRpcTransport,
    private readonly batchSize = 50,
  ) {}

  /** Publishes and deletes up to `limit` queued events in one transaction; returns how many it took. */
  private drainBatch(limit: number): Promise<number> {
    const table = this.outboxDb.t('event_outbox');
    return this.outboxDb.transaction(async (tx) => {
      const rows = await tx.rows(`SELECT id, event, payload, request_id FROM ${table} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit]);
      for (const r of rows) {
        await this.transport.publish(r.event as EventName, r.payload as EventPayloads[EventName], { requestId: (r.request_id as string | null) ?? undefined, timeoutMs: 5000 });
        await tx.exec(`DELETE FROM ${table} WHERE id = $1`, [r.id]);
      }
      return rows.length;
    });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.kick(), 5000);
    this.timer.unref();
    this.kick();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Publish what is queued, now (called after every commit that queued an event). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Resolves when everything queued so far has been published (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.kick();
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const n = await this.drainBatch(this.batchSize);
        if (n < this.batchSize) return;
      }
    } catch (err) {
      this.log.warn(`events wait in the outbox: ${(err as Error).message}`);
    }
  }
}
