import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import { KUMO_CONFIG } from '@kumo/service-kit';
import type { IdentityConfig } from '../config.js';

/**
 * argon2id hashing (PHC strings, so the cost can be raised later without invalidating old
 * hashes). `verify` compares in constant time; `burn` spends the same time for a user that does
 * not exist, so response times do not tell which user names are real.
 */
@Injectable()
export class Passwords {
  private readonly dummy: Promise<string>;
  /** HMAC(key, stored hash + secret) → expiry (ms): secrets verified recently (see KUMO_IDENTITY_AUTH_CACHE_S). */
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);

  constructor(@Inject(KUMO_CONFIG) private readonly config: IdentityConfig) {
    this.dummy = this.hash('kumo-no-such-user');
  }

  private mac(phc: string, secret: string): string {
    return createHmac('sha256', this.cacheKey).update(phc).update('\u0000').update(secret).digest('base64url');
  }

  private remembered(phc: string, secret: string): boolean {
    if (this.config.KUMO_IDENTITY_AUTH_CACHE_S <= 0) return false;
    const key = this.mac(phc, secret);
    const until = this.verified.get(key);
    if (until === undefined) return false;
    if (until < Date.now()) {
      this.verified.delete(key);
      return false;
    }
    // the Map lookup already matched the full MAC; compare again in constant time for the record
    return timingSafeEqual(Buffer.from(key), Buffer.from(this.mac(phc, secret)));
  }

  private remember(phc: string, secret: string): void {
    if (this.config.KUMO_IDENTITY_AUTH_CACHE_S <= 0) return;
    if (this.verified.size >= 10_000) {
      const now = Date.now();
      for (const [k, until] of this.verified) if (until < now || this.verified.size >= 10_000) this.verified.delete(k);
    }
    this.verified.set(this.mac(phc, secret), Date.now() + this.config.KUMO_IDENTITY_AUTH_CACHE_S * 1000);
  }

  hash(secret: string): Promise<string> {
    return hash(secret, { algorithm: Algorithm.Argon2id, memoryCost: this.config.KUMO_ARGON2_MEMORY_KIB, timeCost: this.config.KUMO_ARGON2_PASSES, parallelism: 1 });
  }

  async verify(phc: string | null | undefined, secret: string): Promise<boolean> {
    if (!phc) {
      await this.burn(secret);
      return false;
    }
    if (this.remembered(phc, secret)) return true;
    try {
      const ok = await verify(phc, secret);
      if (ok) this.remember(phc, secret);
      return ok;
    } catch {
      return false;
    }
  }

  async burn(secret: string): Promise<void> {
    await verify(await this.dummy, secret).catch(() => false);
  }
}

export function hashWith(config: Pick<IdentityConfig, 'KUMO_ARGON2_MEMORY_KIB' | 'KUMO_ARGON2_PASSES'>, secret: string): Promise<string> {
  return hash(secret, { algorithm: Algorithm.Argon2id, memoryCost: config.KUMO_ARGON2_MEMORY_KIB, timeCost: config.KUMO_ARGON2_PASSES, parallelism: 1 });
}
