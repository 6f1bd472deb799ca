import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors as joseErrors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { ApiError } from '../errors/api-error.js';
import { authContextOf, type AuthContext, type KumoTokenClaims, TOKEN_ALGORITHM } from './claims.js';
import { RevocationService } from './revocation.service.js';

/** Injection token of the key resolver; identity provides its own keys, others fetch the JWKS. */
export const TOKEN_KEYS = Symbol('TOKEN_KEYS');

/** Minimum time between two JWKS fetches of one process (forged kids cannot hammer identity). */
const JWKS_COOLDOWN_MS = 1_000;

export function remoteKeys(identityUrl: string): JWTVerifyGetKey {
  // jose caches the key set and refetches on an unknown `kid`, so rotation needs no restart.
  const set = createRemoteJWKSet(new URL('/.well-known/jwks.json', identityUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: JWKS_COOLDOWN_MS, timeoutDuration: 3_000 });
  return async (header, token) => {
    try {
      return await set(header, token);
    } catch (err) {
      // Right after a key rotation the first new-key token can arrive within the cooldown of a
      // fetch that predates the new key; jose would then refuse a valid token. Wait out the
      // (short) cooldown once and look again; a kid that is still unknown is refused.
      if (!(err instanceof joseErrors.JWKSNoMatchingKey) || !set.coolingDown) throw err;
      await new Promise((resolve) => setTimeout(resolve, JWKS_COOLDOWN_MS));
      return await set(header, token);
    }
  };
}

const AUTH_REQUIRED = 'The request you have made requires authentication.';
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;

/**
 * Verifies Kumo tokens locally: signature (EdDSA, key by `kid` from identity's JWKS), issuer,
 * expiry, then the revocation list. No call to identity per request.
 */
@Injectable()
export class TokenVerifier {
  constructor(
    @Inject(TOKEN_KEYS) private readonly keys: JWTVerifyGetKey,
    @Inject('KUMO_TOKEN_ISSUER') private readonly issuer: string,
    private readonly revocations: RevocationService,
  ) {}

  /**
   * Tokens whose signature was checked, for at most VERIFIED_TTL_MS and never past their expiry.
   * A signature check costs ~0.25 ms of CPU and clients send the same token on every call; what
   * may change meanwhile — revocation of the token, its user, project or signing key — is looked
   * up on every request below, so the cache never lets a revoked token through.
   */
  private readonly verified = new Map<string, { payload: KumoTokenClaims; kid: string | undefined; until: number }>();

  private remember(token: string, payload: KumoTokenClaims, kid: string | undefined, now: number): void {
    const until = Math.min(now + VERIFIED_TTL_MS, (payload.exp ?? 0) * 1000);
    if (until <= now) return;
    this.verified.set(token, { payload, kid, until });
    if (this.verified.size > VERIFIED_MAX) {
      // Oldest first (insertion order): a burst of new tokens halves the cache in one pass.
      for (const key of this.verified.keys()) {
        if (this.verified.size <= VERIFIED_MAX / 2) break;
        this.verified.delete(key);
      }
    }
  }

  /** Resolves the caller, or throws 401 (ApiError) saying why the token is not acceptable. */
  async verify(token: string): Promise<AuthContext> {
    if (token.length > 8192) throw ApiError.unauthorized(`${AUTH_REQUIRED} The token is malformed.`);
    let payload: KumoTokenClaims;
    let kid: string | undefined;
    const now = Date.now();
    const seen = this.verified.get(token);
    if (seen && seen.until > now) {
      ({ payload, kid } = seen);
    } else {
      try {
        const result = await jwtVerify<KumoTokenClaims>(token, this.keys, { issuer: this.issuer, algorithms: [TOKEN_ALGORITHM], clockTolerance: 5, requiredClaims: ['sub', 'jti', 'exp', 'iat'] });
        payload = result.payload;
        kid = result.protectedHeader.kid;
      } catch (err) {
        throw ApiError.unauthorized(`${AUTH_REQUIRED} ${reasonOf(err)}`);
      }
      this.remember(token, payload, kid, now);
    }
    const auth = authContextOf(token, payload, kid);
    const revoked = this.revocations.check(auth);
    if (revoked) throw ApiError.unauthorized(`${AUTH_REQUIRED} The token is no longer valid: ${revoked}.`);
    return auth;
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'The token has expired.';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'The token signature is invalid.';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'The token was signed by an unknown or retired key.';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'The token algorithm is not accepted.';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `The token is not valid here (${err.claim}).`;
  if (err instanceof joseErrors.JWKSTimeout || (err as { code?: string })?.code === 'ECONNREFUSED') return 'The token could not be checked: the identity service is unreachable.';
  if (err instanceof joseErrors.JOSEError) return 'The token is malformed.';
  return 'The token is malformed.';
}
