import { z } from 'zod';

/** Identity's own configuration, validated with the base variables at start-up. */
export const identityConfigShape = {
  /** Lifetime of a token, seconds. */
  KUMO_TOKEN_TTL_S: z.coerce.number().int().min(60).max(7 * 86400).default(3600),
  /** Failed password logins in a row that lock a user out; 0 disables the lockout. */
  KUMO_IDENTITY_LOCKOUT_FAILURES: z.coerce.number().int().min(0).default(5),
  /** How long a locked-out user stays locked, seconds. */
  KUMO_IDENTITY_LOCKOUT_DURATION_S: z.coerce.number().int().min(1).default(900),
  /**
   * Key-encryption key for the token-signing private keys stored in the database: 32 bytes as
   * base64 or hex. When unset it is read from KUMO_IDENTITY_MASTER_KEY_FILE, which is created
   * (mode 0600) on first use. Every identity replica needs the same key.
   */
  KUMO_IDENTITY_MASTER_KEY: z.string().optional(),
  /** Default: $KUMO_STATE_DIR/identity/master.key (./kumo sets KUMO_STATE_DIR), else /var/lib/kumo/identity/master.key. */
  KUMO_IDENTITY_MASTER_KEY_FILE: z.string().optional(),
  KUMO_STATE_DIR: z.string().optional(),
  /**
   * Seconds a successfully verified password or application-credential secret is remembered
   * (as an HMAC under a per-process random key, bound to the stored hash) so that repeated logins
   * of the same user — every `openstack` CLI command logs in anew — skip argon2. Failures are never
   * remembered; a changed password changes the stored hash and so misses. 0 turns it off.
   */
  KUMO_IDENTITY_AUTH_CACHE_S: z.coerce.number().int().min(0).max(3600).default(60),
  /** argon2id cost (OWASP's recommendation is 19 MiB, 2 passes, 1 lane). */
  KUMO_ARGON2_MEMORY_KIB: z.coerce.number().int().min(1024).default(19456),
  KUMO_ARGON2_PASSES: z.coerce.number().int().min(1).default(2),
};

export interface IdentityConfig {
  KUMO_TOKEN_TTL_S: number;
  KUMO_IDENTITY_LOCKOUT_FAILURES: number;
  KUMO_IDENTITY_LOCKOUT_DURATION_S: number;
  KUMO_IDENTITY_MASTER_KEY?: string;
  KUMO_IDENTITY_MASTER_KEY_FILE?: string;
  KUMO_STATE_DIR?: string;
  KUMO_IDENTITY_AUTH_CACHE_S: number;
  KUMO_ARGON2_MEMORY_KIB: number;
  KUMO_ARGON2_PASSES: number;
  KUMO_TOKEN_ISSUER: string;
  KUMO_DATABASE_URL: string;
  KUMO_AMQP_URL: string;
}
