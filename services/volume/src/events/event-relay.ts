import { Injectable } from '@nestjs/common';
import { AmqpRpcTransport, OutboxRelay } from '@kumo/service-kit';
import { Db } from '@kumo/service-kit';

/** The volume service's `event_outbox`: a volume change and its event commit together (service-kit's OutboxRelay publishes them). */
@Injectable()
export class EventRelay extends OutboxRelay {
  constructor(
    db: Db,
    transport: AmqpRpcTransport,
  ) {
    super(db, transport);
  }
}
