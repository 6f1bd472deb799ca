import { Controller, Get, Param } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import { AuditLogService } from './audit-log.service.js';

/** Nova's os-instance_usage_audit_log (every microversion). */
@Controller('v2.1/os-instance_usage_audit_log')
export class AuditLogController {
  constructor(private readonly audit: AuditLogService) {}

  @Get()
  list(@Auth() auth: AuthContext) {
    return this.audit.list(auth);
  }

  /** `before_timestamp` (`2026-11-27 21:30:00`, URL-encoded): the month that ended before it. */
  @Get(':before')
  show(@Auth() auth: AuthContext, @Param('before') before: string) {
    return this.audit.show(auth, before);
  }
}
