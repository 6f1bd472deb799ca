import { Injectable } from '@nestjs/common';
import { AmqpRpcTransport, OutboxRelay } from '@kumo/service-kit';
import { Core } from '../db/core.js';

/** The network service's `event_outbox` (service-kit's OutboxRelay publishes it); `Core.kick` is wired to it so every commit that queued an event publishes at once. */
@Injectable()
export class EventRelay extends OutboxRelay {
  constructor(
    private readonly core: Core,
    transport: AmqpRpcTransport,
  ) {
    super(core.db, transport);
  }

  override onApplicationBootstrap(): void {
    this.core.kick = () => this.kick();
    super.onApplicationBootstrap();
  }
}
