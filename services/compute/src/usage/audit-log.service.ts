import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { Db } from '../db/db.js';

const TIMESTAMP = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$/;

/** `2026-11-01 00:00:00`: how Python prints the naive datetimes of Nova's answer. */
function pyDate(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * Nova's `last_completed_audit_period` for its default unit (`instance_usage_audit_period = month`):
 * the most recent whole calendar month (UTC) that ended strictly before `before`.
 */
export function lastCompletedMonth(before: Date): { begin: Date; end: Date } {
  let end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), 1));
  if (end.getTime() >= before.getTime()) end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth() - 1, 1));
  return { begin: new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1)), end };
}

/** Nova's accepted forms: `%Y-%m-%d %H:%M:%S`, or with `.%f` when the id has a dot; undefined otherwise. */
export function parseAuditTimestamp(id: string): Date | undefined {
  const m = TIMESTAMP.exec(id);
  if (!m || (id.includes('.') && m[7] === undefined)) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // Date.UTC rolls 2026-02-30 over into March; strptime refuses it.
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return date;
}

/**
 * os-instance_usage_audit_log (admin): Nova reports the task_log rows its computes write when
 * `[DEFAULT] instance_usage_audit` is on (a periodic job that emits one usage notification per
 * instance and period). Kumo has no such job and emits no usage notifications, so no host ever
 * ran the audit: every compute service (disabled ones included, as Nova counts them) is reported
 * as not run, with no instances and no errors — exactly what Nova answers with its default
 * `instance_usage_audit = False`. Per-instance usage is in os-simple-tenant-usage.
 */
@Injectable()
export class AuditLogService {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
  ) {}

  async list(auth: AuthContext) {
    this.policy.enforce('os_compute_api:os-instance-usage-audit-log:list', auth, {});
    return { instance_usage_audit_logs: await this.report(new Date()) };
  }

  async show(auth: AuthContext, before: string) {
    this.policy.enforce('os_compute_api:os-instance-usage-audit-log:show', auth, {});
    const at = parseAuditTimestamp(before);
    if (!at) throw ApiError.badRequest(`Invalid timestamp for date ${before}`);
    return { instance_usage_audit_log: await this.report(at) };
  }

  private async report(before: Date) {
    const { begin, end } = lastCompletedMonth(before);
    const hosts = (await this.db.rows<{ host: string }>(`SELECT host FROM ${this.db.t('compute_node')} ORDER BY host`)).map((r) => r.host);
    const done = 0;
    const errors = 0;
    return {
      period_beginning: pyDate(begin),
      period_ending: pyDate(end),
      num_hosts: hosts.length,
      num_hosts_done: done,
      num_hosts_running: 0,
      num_hosts_not_run: hosts.length,
      hosts_not_run: hosts,
      total_instances: 0,
      total_errors: errors,
      overall_status: `${done === hosts.length ? 'ALL' : `${done} of ${hosts.length}`} hosts done. ${errors} errors.`,
      log: {},
    };
  }
}
