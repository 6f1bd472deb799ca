import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EventName, EventPayloads } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';
import { Core } from '../db/core.js';

/**
 * Publishes the events queued in `event_outbox` (transactional outbox): a change and its event
 * commit together, and the event leaves as soon as the broker confirms it. A broker that is
 * down delays events, it never loses them; a crash between publish and delete can send one
 * twice (consumers are idempotent, contracts/events.ts).
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('events');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly core: Core,
    private readonly transport: AmqpRpcTransport,
  ) {}

  onApplicationBootstrap() {
    this.core.kick = () => this.kick();
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
    const t = this.core.t('event_outbox');
    try {
      for (;;) {
        const n = await this.core.db.transaction(async (tx) => {
          const rows = await tx.rows(`SELECT id, event, payload, request_id FROM ${t} ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED`);
          for (const r of rows) {
            await this.transport.publish(r.event as EventName, r.payload as EventPayloads[EventName], { requestId: (r.request_id as string | null) ?? undefined, timeoutMs: 5000 });
            await tx.exec(`DELETE FROM ${t} WHERE id = $1`, [r.id]);
          }
          return rows.length;
        });
        if (n < 50) return;
      }
    } catch (err) {
      this.log.warn(`events wait in the outbox: ${(err as Error).message}`);
    }
  }
}
