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
