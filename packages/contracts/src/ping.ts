import type { ServiceName } from './names.js';

/**
 * `<service>.ping` — every service answers it. Used by health tooling and to prove that two
 * services reach each other over the broker: with `relayTo` the receiver pings that service
 * itself and nests the answer.
 */
export interface PingRequest {
  nonce: string;
  relayTo?: ServiceName;
}

export interface PingReply {
  service: ServiceName;
  version: string;
  nonce: string;
  hostname: string;
  pid: number;
  receivedAt: string;
  relayed?: PingReply;
}
