/**
 * Token revocation, as identity broadcasts it. Tokens are verified locally by every service
 * (signed JWTs), so a revoked token stays valid elsewhere until each service hears about it:
 * identity publishes `identity.revoked` (delivered to every process, not one per service) and
 * answers `identity.revocations` so a service that (re)starts learns the current list.
 *
 * A token is revoked when any entry matches it:
 *   - auditId:   that one token (`openstack token revoke`, DELETE /v3/auth/tokens)
 *   - userId / projectId / domainId / appCredId + issuedBefore: every token of that subject
 *     issued before the instant (user disabled or password changed, project deleted, ...)
 *   - keyId:     every token signed with that key (the key was rotated out)
 * `expiresAt` (epoch seconds) is when the entry can be forgotten: no token it matches is still valid.
 */
export type Revocation =
  | { auditId: string; expiresAt: number }
  | { userId: string; issuedBefore: number; expiresAt: number }
  | { projectId: string; issuedBefore: number; expiresAt: number }
  | { domainId: string; issuedBefore: number; expiresAt: number }
  | { appCredId: string; issuedBefore: number; expiresAt: number }
  | { keyId: string; expiresAt: number };

export interface RevocationList {
  revocations: Revocation[];
}

/**
 * `identity.audit` (event on kumo.events): who did what to what, for logins, failed logins,
 * role grants and revocations, and lockouts. CADF-like but flat; never carries a secret.
 */
export interface IdentityAuditEvent {
  /** e.g. `authenticate`, `role_assignment.created`, `role_assignment.deleted`, `user.locked` */
  action: string;
  outcome: 'success' | 'failure';
  at: string;
  initiator: { userId?: string; name?: string; domain?: string; address?: string; method?: string };
  target?: { type: string; id: string };
  reason?: string;
  requestId?: string;
}
