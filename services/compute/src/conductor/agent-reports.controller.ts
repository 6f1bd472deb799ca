import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type AgentReport, type HostReport, rpcPattern } from '@kumo/contracts';
import { ConductorService } from './conductor.service.js';

/** Casts from the node agents on `kumo.compute` (they hold no database credentials). */
@Controller()
export class AgentReportsController {
  constructor(private readonly conductor: ConductorService) {}

  @MessagePattern(rpcPattern('compute', 'agent_report'))
  async report(@Payload() r: AgentReport): Promise<void> {
    if (!r || typeof r.instanceId !== 'string' || typeof r.host !== 'string') return;
    await this.conductor.onReport(r);
  }

  @MessagePattern(rpcPattern('compute', 'host_report'))
  async host(@Payload() r: HostReport): Promise<void> {
    if (!r || typeof r.host !== 'string' || !Number.isFinite(r.vcpus) || !Number.isFinite(r.memoryMb)) return;
    await this.conductor.onHostReport(r);
  }
}
