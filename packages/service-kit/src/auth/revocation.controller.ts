import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { RevocationList } from '@kumo/contracts';
import { BROADCAST } from '../amqp/server.js';
import { RevocationService } from './revocation.service.js';

@Controller()
export class RevocationController {
  constructor(private readonly revocations: RevocationService) {}

  /** Delivered to every process of every service (a broadcast), not to one consumer per service. */
  @EventPattern<string>('identity.revoked', BROADCAST)
  revoked(@Payload() data: RevocationList): void {
    if (Array.isArray(data?.revocations)) this.revocations.add(data.revocations);
  }
}
