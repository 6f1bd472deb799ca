import { Injectable, Logger } from '@nestjs/common';
import type { IdentityAuditEvent } from '@kumo/contracts';
import { AmqpRpcTransport } from '@kumo/service-kit';

/** Publishes `identity.audit` events; never blocks or fails the request that caused them. */
@Injectable()
export class Audit {
  private readonly log = new Logger('audit');
  constructor(private readonly transport: AmqpRpcTransport) {}

  emit(event: Omit<IdentityAuditEvent, 'at'>): void {
    const full: IdentityAuditEvent = { ...event, at: new Date().toISOString() };
    this.log.log({ audit: full }, `${full.action} ${full.outcome}`);
    this.transport.publish('identity.audit', full, { timeoutMs: 5000, requestId: event.requestId }).catch((err: Error) => this.log.warn(`could not publish audit event ${full.action}: ${err.message}`));
  }
}
