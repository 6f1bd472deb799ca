import { Controller, Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';
import type { Revocation, RevocationList } from '@kumo/contracts';
import { AmqpRpcTransport, KUMO_CONFIG, RevocationService } from '@kumo/service-kit';
import { Db, type Sql } from '../db/db.service.js';
import type { IdentityConfig } from '../config.js';

type Row = { kind: string; subject: string; issued_before: string | null; expires_at: string };

export function rowOf(r: Revocation): { kind: string; subject: string; issuedBefore: number | null; expiresAt: number } {
  if ('auditId' in r) return { kind: 'audit', subject: r.auditId, issuedBefore: null, expiresAt: r.expiresAt };
  if ('keyId' in r) return { kind: 'key', subject: r.keyId, issuedBefore: null, expiresAt: r.expiresAt };
  if ('userId' in r) return { kind: 'user', subject: r.userId, issuedBefore: r.issuedBefore, expiresAt: r.expiresAt };
  if ('projectId' in r) return { kind: 'project', subject: r.projectId, issuedBefore: r.issuedBefore, expiresAt: r.expiresAt };
  if ('domainId' in r) return { kind: 'domain', subject: r.domainId, issuedBefore: r.issuedBefore, expiresAt: r.expiresAt };
  return { kind: 'appcred', subject: r.appCredId, issuedBefore: r.issuedBefore, expiresAt: r.expiresAt };
}

export function revocationOf(r: Row): Revocation {
  const expiresAt = Number(r.expires_at);
  const issuedBefore = Number(r.issued_before);
  switch (r.kind) {
    case 'audit':
      return { auditId: r.subject, expiresAt };
    case 'key':
      return { keyId: r.subject, expiresAt };
    case 'user':
      return { userId: r.subject, issuedBefore, expiresAt };
    case 'project':
      return { projectId: r.subject, issuedBefore, expiresAt };
    case 'domain':
      return { domainId: r.subject, issuedBefore, expiresAt };
    default:
      return { appCredId: r.subject, issuedBefore, expiresAt };
  }
}

export async function persistRevocations(sql: Sql, entries: Revocation[]): Promise<void> {
  for (const e of entries) {
    const r = rowOf(e);
    await sql.q(`INSERT INTO identity.revocation (kind, subject, issued_before, expires_at) VALUES ($1, $2, $3, $4)`, [r.kind, r.subject, r.issuedBefore, r.expiresAt]);
  }
}

/**
 * Identity's side of revocation: entries are written in the same transaction as the change that
 * causes them (a disabled user, a deleted project), then — after commit — added to this process's
 * own list and broadcast as `identity.revoked` to every process of every service. The table is
 * what `identity.revocations` answers, so a service that starts later still learns them.
 */
@Injectable()
export class Revocations implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('revocations');
  /** Latest `issuedBefore` per subject, so a token issued in the same second as a revocation is not born revoked. */
  private readonly subjectFloor = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly local: RevocationService,
    private readonly transport: AmqpRpcTransport,
    @Inject(KUMO_CONFIG) private readonly config: IdentityConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const rows = await this.list();
    this.remember(rows);
    this.local.add(rows);
    this.timer = setInterval(() => void this.db.q(`DELETE FROM identity.revocation WHERE expires_at < $1`, [Math.floor(Date.now() / 1000)]).catch(() => undefined), 60_000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Entries no token has outlived yet; what `identity.revocations` answers. */
  async list(): Promise<Revocation[]> {
    const rows = await this.db.q<Row>(`SELECT kind, subject, issued_before, expires_at FROM identity.revocation WHERE expires_at >= $1 ORDER BY id`, [Math.floor(Date.now() / 1000)]);
    return rows.map(revocationOf);
  }

  /**
   * Revocation entry "every token of `subject` issued until now". Token times are whole seconds
   * and a token issued in the second of an earlier revocation is dated one second later (see
   * minIssuedAt), so "now" is the latest `iat` this process has handed out, if that is later.
   */
  subject(kind: 'userId' | 'projectId' | 'domainId' | 'appCredId', id: string): Revocation {
    const now = Math.floor(Date.now() / 1000);
    return { [kind]: id, issuedBefore: Math.max(now, this.latestIat), expiresAt: now + this.config.KUMO_TOKEN_TTL_S + 60 } as Revocation;
  }

  private latestIat = 0;

  /** Called for every token issued. */
  issued(iat: number): void {
    if (iat > this.latestIat) this.latestIat = iat;
  }

  /** After the transaction that persisted `entries` committed: apply locally and broadcast. */
  async announce(entries: Revocation[]): Promise<void> {
    if (entries.length === 0) return;
    this.remember(entries);
    this.local.add(entries);
    try {
      await this.transport.publish('identity.revoked', { revocations: entries }, { timeoutMs: 5000 });
    } catch (err) {
      // Services also re-sync the list every few minutes and on reconnect; say so loudly.
      this.log.error(`could not broadcast ${entries.length} revocation(s) (${(err as Error).message}); other services will learn them at their next sync`);
    }
  }

  /** Called for broadcasts too (several identity replicas). */
  remember(entries: Revocation[]): void {
    for (const e of entries) {
      if ('issuedBefore' in e) {
        const k = rowOf(e);
        const key = `${k.kind}:${k.subject}`;
        this.subjectFloor.set(key, Math.max(this.subjectFloor.get(key) ?? 0, e.issuedBefore));
      }
    }
  }

  /** The smallest `iat` a new token for these subjects may carry so that no revocation matches it. */
  minIssuedAt(subjects: string[]): number {
    let floor = 0;
    for (const s of subjects) floor = Math.max(floor, (this.subjectFloor.get(s) ?? -1) + 1);
    return floor;
  }
}

@Controller()
export class RevocationRpcController {
  constructor(private readonly revocations: Revocations) {}

  @MessagePattern('identity.revocations')
  async revocationsRpc(): Promise<RevocationList> {
    return { revocations: await this.revocations.list() };
  }
}
