import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EventName, EventPayloads } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';
import { Db } from '../db/db.js';

/**
 * Publishes the events queued in `event_outbox` (transactional outbox): an instance change and
 * its event commit together; a broker that is down delays events, never loses them. A crash
 * between publish and delete can send one twice (consumers are idempotent).
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('events');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly transport: AmqpRpcTransport,
  ) {}

  onApplicationBootstrap() {
    this.timer = setInterval(() => this.kick(), 5000);
    this.timer.unref();
    this.kick();
  }

  async onApplicationShutdown() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

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

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const n = await this.db.transaction(async (tx) => {
          const rows = await tx.rows(`SELECT id, event, payload, request_id FROM ${this.db.t('event_outbox')} ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED`);
          for (const r of rows) {
            await this.transport.publish(r.event as EventName, r.payload as EventPayloads[EventName], { requestId: (r.request_id as string | null) ?? undefined, timeoutMs: 5000 });
          }
          if (rows.length) await tx.exec(`DELETE FROM ${this.db.t('event_outbox')} WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
          return rows.length;
        });
        if (n < 100) return;
      }
    } catch (err) {
      this.log.warn(`events wait in the outbox: ${(err as Error).message}`);
    }
  }
}
