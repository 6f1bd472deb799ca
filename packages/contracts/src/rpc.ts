import type { PingReply, PingRequest } from './ping.js';
import type { ServiceName } from './names.js';
import type { RevocationList } from './identity.js';
import type { ImageRpcMethods } from './image.js';
import type { NetworkRpcMethods } from './network.js';
import type { ComputeRpcMethods } from './compute.js';
import type { VolumeRpcMethods } from './volume.js';

/**
 * Every RPC method of every service, by service. `pattern` on the wire is `<service>.<method>`.
 * A service's handlers and its callers are both typed from this map, so a renamed method or a
 * changed payload is a compile error on both sides.
 */
export interface RpcMethods {
  identity: {
    ping: { request: PingRequest; reply: PingReply };
    /** The current (unexpired) revocation list; services call it at start-up. */
    revocations: { request: Record<string, never>; reply: RevocationList };
  };
  image: { ping: { request: PingRequest; reply: PingReply } } & ImageRpcMethods;
  network: { ping: { request: PingRequest; reply: PingReply } } & NetworkRpcMethods;
  volume: { ping: { request: PingRequest; reply: PingReply } } & VolumeRpcMethods;
  compute: { ping: { request: PingRequest; reply: PingReply } } & ComputeRpcMethods;
}

export type MethodOf<S extends ServiceName> = keyof RpcMethods[S] & string;
export type RequestOf<S extends ServiceName, M extends MethodOf<S>> = RpcMethods[S][M] extends { request: infer R } ? R : never;
export type ReplyOf<S extends ServiceName, M extends MethodOf<S>> = RpcMethods[S][M] extends { reply: infer R } ? R : never;

export function rpcPattern<S extends ServiceName>(service: S, method: MethodOf<S>): string {
  return `${service}.${method}`;
}

export interface CallOptions {
  /** Deadline for the reply; the default comes from the caller's configuration. */
  timeoutMs?: number;
  requestId?: string;
}

/** What a transport must provide for the typed client; service-kit implements it over AMQP. */
export interface RpcTransport {
  request(queue: string, pattern: string, data: unknown, options: CallOptions): Promise<unknown>;
}
