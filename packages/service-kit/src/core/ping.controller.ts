import { hostname } from 'node:os';
import { Controller, Inject, type Type } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type PingReply, type PingRequest, RpcError, isServiceName, rpcPattern, type ServiceName } from '@kumo/contracts';
import { AmqpRpcTransport } from '../amqp/client.js';
import { SERVICE_DEFINITION, type ServiceDefinition } from './definition.js';

/** Builds the `<service>.ping` handler; the pattern depends on the service, hence a factory. */
export function pingController(service: ServiceName): Type<unknown> {
  @Controller()
  class PingController {
    constructor(
      @Inject(SERVICE_DEFINITION) private readonly def: ServiceDefinition,
      private readonly rpc: AmqpRpcTransport,
    ) {}

    @MessagePattern(rpcPattern(service, 'ping'))
    async ping(@Payload() request: PingRequest): Promise<PingReply> {
      if (!request || typeof request.nonce !== 'string') {
        throw new RpcError({ code: 'bad_request', message: 'ping needs a string nonce' });
      }
      const reply: PingReply = {
        service,
        version: this.def.version,
        nonce: request.nonce,
        hostname: hostname(),
        pid: process.pid,
        receivedAt: new Date().toISOString(),
      };
      if (request.relayTo !== undefined) {
        if (!isServiceName(request.relayTo) || request.relayTo === service) {
          throw new RpcError({ code: 'bad_request', message: `cannot relay a ping from ${service} to ${String(request.relayTo)}` });
        }
        reply.relayed = await this.rpc.client(request.relayTo).call('ping', { nonce: request.nonce });
      }
      return reply;
    }
  }
  return PingController;
}
