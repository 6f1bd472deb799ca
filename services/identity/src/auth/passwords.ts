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
  constructor(@Inject(KUMO_CONFIG) private readonly config: IdentityConfig) {
    this.dummy = this.hash('kumo-no-such-user');
  }

  hash(secret: string): Promise<string> {
    return hash(secret, { algorithm: Algorithm.Argon2id, memoryCost: this.config.KUMO_ARGON2_MEMORY_KIB, timeCost: this.config.KUMO_ARGON2_PASSES, parallelism: 1 });
  }

  async verify(phc: string | null | undefined, secret: string): Promise<boolean> {
    if (!phc) {
      await this.burn(secret);
      return false;
    }
    try {
      return await verify(phc, secret);
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
