import { Counter, Histogram, type Registry } from 'prom-client';

/** Broker-side figures of one service: handled messages by outcome, handler time, RPC client time. */
export class AmqpMetrics {
  private readonly handled: Counter<'pattern' | 'kind' | 'outcome'>;
  private readonly handlerSeconds: Histogram<'pattern' | 'kind'>;
  private readonly rpcSeconds: Histogram<'pattern' | 'outcome'>;

  constructor(registry: Registry) {
    this.handled = new Counter({ name: 'kumo_amqp_messages_total', help: 'AMQP messages handled, by pattern, kind (rpc/cast/event) and outcome', labelNames: ['pattern', 'kind', 'outcome'], registers: [registry] });
    this.handlerSeconds = new Histogram({ name: 'kumo_amqp_handler_seconds', help: 'Time spent in AMQP handlers', labelNames: ['pattern', 'kind'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] });
    this.rpcSeconds = new Histogram({ name: 'kumo_rpc_client_seconds', help: 'RPC round trips made by this service, by pattern and outcome', labelNames: ['pattern', 'outcome'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30], registers: [registry] });
  }

  observeHandled(pattern: string, kind: string, outcome: string, startedNs: bigint) {
    this.handled.inc({ pattern, kind, outcome });
    this.handlerSeconds.observe({ pattern, kind }, Number(process.hrtime.bigint() - startedNs) / 1e9);
  }

  observeCall(pattern: string, outcome: string, startedNs: bigint) {
    this.rpcSeconds.observe({ pattern, outcome }, Number(process.hrtime.bigint() - startedNs) / 1e9);
  }
}
