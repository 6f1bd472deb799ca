import { type ServiceName, serviceQueue } from './names.js';
import { type CallOptions, type MethodOf, type ReplyOf, type RequestOf, type RpcTransport, rpcPattern } from './rpc.js';

/**
 * The only way to call another service. `ServiceRpcClient<'network'>` can only call methods the
 * network service declares in `RpcMethods`, with the declared payloads.
 *
 * Errors: rejects with `RpcError` (code `timeout`, `unavailable`, `unknown_method`,
 * `version_mismatch`, or the receiver's own code such as `not_found`).
 */
export class ServiceRpcClient<S extends ServiceName> {
  constructor(
    private readonly transport: RpcTransport,
    readonly service: S,
  ) {}

  async call<M extends MethodOf<S>>(method: M, request: RequestOf<S, M>, options: CallOptions = {}): Promise<ReplyOf<S, M>> {
    return (await this.transport.request(serviceQueue(this.service), rpcPattern(this.service, method), request, options)) as ReplyOf<S, M>;
  }
}
