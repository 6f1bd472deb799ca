import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EventName, EventPayloads } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';
import { VolumeRepository } from '../db/volume.repository.js';

/**
 * Publishes the events queued in `event_outbox` (transactional outbox, as the image service):
 * a volume change and its event commit together; a broker outage delays events, never loses
 * them; a crash between publish and delete can send one twice (consumers are idempotent).
 */
@Injectable()
export class EventRelay implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('events');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly volumes: VolumeRepository,
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

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const n = await this.volumes.drainEvents(50, (e) =>
          this.transport.publish(e.event as EventName, e.payload as EventPayloads[EventName], { requestId: e.requestId ?? undefined, timeoutMs: 5000 }).then(() => undefined),
        );
        if (n < 50) return;
      }
    } catch (err) {
      this.log.warn(`events wait in the outbox: ${(err as Error).message}`);
    }
  }
}
