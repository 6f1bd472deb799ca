import type { Revocation } from '@kumo/contracts';
import type { AuthContext } from './claims.js';

/**
 * The in-memory revocation list of one process. Lookups are O(1) per kind so checking every
 * request costs nothing noticeable; entries are dropped once no token they match can still be valid.
 */
export class RevocationList {
  private readonly byAudit = new Map<string, number>();
  private readonly byKey = new Map<string, number>();
  private readonly bySubject = new Map<string, { issuedBefore: number; expiresAt: number }>();

  add(entries: Revocation[]): void {
    for (const e of entries) {
      if ('auditId' in e) this.byAudit.set(e.auditId, Math.max(e.expiresAt, this.byAudit.get(e.auditId) ?? 0));
      else if ('keyId' in e) this.byKey.set(e.keyId, Math.max(e.expiresAt, this.byKey.get(e.keyId) ?? 0));
      else {
        const key = subjectKey(e);
        const prev = this.bySubject.get(key);
        this.bySubject.set(key, { issuedBefore: Math.max(e.issuedBefore, prev?.issuedBefore ?? 0), expiresAt: Math.max(e.expiresAt, prev?.expiresAt ?? 0) });
      }
    }
  }

  /** Why the token is revoked, or undefined when it is not. */
  check(auth: AuthContext): string | undefined {
    if (auth.auditIds.some((id) => this.byAudit.has(id))) return 'the token was revoked';
    if (auth.keyId && this.byKey.has(auth.keyId)) return 'the key that signed the token was rotated out';
    const issued = Math.floor(auth.issuedAt.getTime() / 1000);
    const subjects: [string, string | undefined][] = [
      [`user:${auth.userId}`, 'the user was disabled, deleted or changed password'],
      [auth.projectId ? `project:${auth.projectId}` : '', 'the project was disabled or deleted'],
      [auth.domainId ? `domain:${auth.domainId}` : '', 'the domain was disabled or deleted'],
      [auth.projectDomainId ? `domain:${auth.projectDomainId}` : '', 'the domain was disabled or deleted'],
      [`domain:${auth.userDomainId}`, "the user's domain was disabled or deleted"],
      [auth.appCredId ? `appcred:${auth.appCredId}` : '', 'the application credential was deleted'],
    ];
    for (const [key, reason] of subjects) {
      const r = key ? this.bySubject.get(key) : undefined;
      if (r && issued <= r.issuedBefore) return reason;
    }
    return undefined;
  }

  prune(nowSeconds = Math.floor(Date.now() / 1000)): void {
    for (const [k, exp] of this.byAudit) if (exp < nowSeconds) this.byAudit.delete(k);
    for (const [k, exp] of this.byKey) if (exp < nowSeconds) this.byKey.delete(k);
    for (const [k, v] of this.bySubject) if (v.expiresAt < nowSeconds) this.bySubject.delete(k);
  }

  get size(): number {
    return this.byAudit.size + this.byKey.size + this.bySubject.size;
  }
}

function subjectKey(e: Exclude<Revocation, { auditId: string } | { keyId: string }>): string {
  if ('userId' in e) return `user:${e.userId}`;
  if ('projectId' in e) return `project:${e.projectId}`;
  if ('domainId' in e) return `domain:${e.domainId}`;
  return `appcred:${e.appCredId}`;
}
