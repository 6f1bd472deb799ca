import { BaseRpcContext } from '@nestjs/microservices';

export interface KumoAmqpMessageInfo {
  /** Unique per message, stable across redeliveries: the key for idempotent handling. */
  messageId: string;
  pattern: string;
  kind: 'rpc' | 'cast' | 'event';
  /** True when the broker delivers the message again (a consumer died before acking it). */
  redelivered: boolean;
  queue: string;
  requestId?: string;
  from?: string;
}

/** What `@Ctx()` gives a Kumo AMQP handler. */
export class KumoAmqpContext extends BaseRpcContext<[KumoAmqpMessageInfo]> {
  get info(): KumoAmqpMessageInfo {
    return this.args[0];
  }
  get messageId(): string {
    return this.args[0].messageId;
  }
  get redelivered(): boolean {
    return this.args[0].redelivered;
  }
}
