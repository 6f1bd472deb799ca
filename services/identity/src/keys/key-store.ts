import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Logger } from '@nestjs/common';
import { type CryptoKey, errors as joseErrors, exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type JWK, type JWTHeaderParameters } from 'jose';
import type { Sql } from '../db/db.service.js';
import type { IdentityConfig } from '../config.js';

/**
 * Token-signing keys (Ed25519), kept in the identity schema so every identity replica signs with
 * the same key and serves the same JWKS.
 *
 * Private keys are stored encrypted (AES-256-GCM) under a key-encryption key that is NOT in the
 * database: KUMO_IDENTITY_MASTER_KEY, or the file KUMO_IDENTITY_MASTER_KEY_FILE (created with
 * mode 0600 on first use). A database dump alone therefore cannot mint tokens.
 *
 * Key states: `primary` signs new tokens; `previous` only verifies (tokens signed before the last
 * rotation stay valid until they expire); `retired` is out of the JWKS, and a `keyId` revocation
 * makes every service refuse its tokens at once.
 */
export interface KeyRow {
  kid: string;
  public_jwk: JWK;
  private_key: string;
  state: 'primary' | 'previous' | 'retired';
  created_at: Date;
}

export function masterKeyFile(config: Pick<IdentityConfig, 'KUMO_IDENTITY_MASTER_KEY_FILE' | 'KUMO_STATE_DIR'>): string {
  return config.KUMO_IDENTITY_MASTER_KEY_FILE ?? (config.KUMO_STATE_DIR ? join(config.KUMO_STATE_DIR, 'identity', 'master.key') : '/var/lib/kumo/identity/master.key');
}

export function loadMasterKey(config: Pick<IdentityConfig, 'KUMO_IDENTITY_MASTER_KEY' | 'KUMO_IDENTITY_MASTER_KEY_FILE' | 'KUMO_STATE_DIR'>): Buffer {
  const parse = (text: string, where: string) => {
    const t = text.trim();
    const buf = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
    if (buf.length !== 32) throw new Error(`${where} must hold 32 bytes as base64 or hex (got ${buf.length} bytes)`);
    return buf;
  };
  if (config.KUMO_IDENTITY_MASTER_KEY) return parse(config.KUMO_IDENTITY_MASTER_KEY, 'KUMO_IDENTITY_MASTER_KEY');
  const file = masterKeyFile(config);
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  return parse(readFileSync(file, 'utf8'), `the master key file ${file} (KUMO_IDENTITY_MASTER_KEY_FILE)`);
}

function seal(master: Buffer, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', master, iv);
  const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return `v1:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
}

function unseal(master: Buffer, sealed: string, kid: string): string {
  if (!sealed.startsWith('v1:')) throw new Error(`signing key ${kid}: unknown storage format`);
  const raw = Buffer.from(sealed.slice(3), 'base64');
  const d = createDecipheriv('aes-256-gcm', master, raw.subarray(0, 12));
  d.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    throw new Error(`cannot decrypt signing key ${kid}: the master key (KUMO_IDENTITY_MASTER_KEY[_FILE]) is not the one it was stored with`);
  }
}

export async function newKeyRow(master: Buffer): Promise<Omit<KeyRow, 'state' | 'created_at'>> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const kid = `k-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, public_jwk: jwk, private_key: seal(master, await exportPKCS8(privateKey)) };
}

export interface RotationResult {
  primary: string;
  demoted?: string;
  retired: string[];
}

/**
 * Rotation: a new primary; the old primary becomes `previous`; keys that were already `previous`
 * are retired (their tokens had at least one rotation period to expire). With `retireAll`
 * the old primary is retired too (an emergency: every token issued so far stops working).
 */
export async function rotateKeys(sql: Sql, master: Buffer, retireAll = false): Promise<RotationResult> {
  await sql.q(`SELECT pg_advisory_xact_lock(hashtext('kumo-identity-keys'))`);
  const current = await sql.q<{ kid: string; state: string }>(`SELECT kid, state FROM identity.signing_key WHERE state <> 'retired'`);
  const row = await newKeyRow(master);
  const demoted = current.find((k) => k.state === 'primary')?.kid;
  const retired = current.filter((k) => k.state === 'previous' || (retireAll && k.state === 'primary')).map((k) => k.kid);
  if (retired.length) await sql.q(`UPDATE identity.signing_key SET state = 'retired', retired_at = now() WHERE kid = ANY($1)`, [retired]);
  if (demoted && !retireAll) await sql.q(`UPDATE identity.signing_key SET state = 'previous' WHERE kid = $1`, [demoted]);
  await sql.q(`INSERT INTO identity.signing_key (kid, public_jwk, private_key, state) VALUES ($1, $2, $3, 'primary')`, [row.kid, JSON.stringify(row.public_jwk), row.private_key]);
  return { primary: row.kid, demoted: retireAll ? undefined : demoted, retired };
}

/** The in-process view of the keys: signs with the primary, resolves `kid`s for verification. */
export class KeyStore {
  private readonly log = new Logger('keys');
  private primary?: { kid: string; key: CryptoKey };
  private readonly verifiers = new Map<string, CryptoKey>();
  private jwksDoc: { keys: JWK[] } = { keys: [] };
  private lastLoad = 0;
  private loading?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly sql: Sql & { tx<T>(fn: (s: Sql) => Promise<T>): Promise<T> },
    private readonly master: Buffer,
  ) {}

  /** Loads the keys, creating the first one on a fresh database; refreshes every few seconds so a rotation by `rotate-keys` (another process) is picked up. */
  async start(refreshMs = 5000): Promise<void> {
    await this.reload();
    if (!this.primary) {
      await this.sql.tx(async (s) => {
        await s.q(`SELECT pg_advisory_xact_lock(hashtext('kumo-identity-keys'))`);
        const any = await s.one(`SELECT kid FROM identity.signing_key WHERE state = 'primary'`);
        if (!any) await rotateKeys(s, this.master);
      });
      await this.reload();
    }
    this.timer = setInterval(() => void this.reload().catch((err: Error) => this.log.warn(`cannot refresh signing keys: ${err.message}`)), refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  reload(): Promise<void> {
    this.loading ??= this.doReload().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async doReload(): Promise<void> {
    const rows = await this.sql.q<KeyRow>(`SELECT kid, public_jwk, private_key, state, created_at FROM identity.signing_key WHERE state <> 'retired' ORDER BY created_at DESC`);
    const live = new Set(rows.map((r) => r.kid));
    for (const kid of [...this.verifiers.keys()]) if (!live.has(kid)) this.verifiers.delete(kid);
    for (const r of rows) {
      if (!this.verifiers.has(r.kid)) this.verifiers.set(r.kid, (await importJWK(r.public_jwk, 'EdDSA')) as CryptoKey);
    }
    const p = rows.find((r) => r.state === 'primary');
    if (p && this.primary?.kid !== p.kid) {
      this.primary = { kid: p.kid, key: await importPKCS8(unseal(this.master, p.private_key, p.kid), 'EdDSA') };
      this.log.log(`signing tokens with key ${p.kid}`);
    }
    this.jwksDoc = { keys: rows.map((r) => r.public_jwk) };
    this.lastLoad = Date.now();
  }

  signingKey(): { kid: string; key: CryptoKey } {
    if (!this.primary) throw new Error('no token-signing key loaded');
    return this.primary;
  }

  jwks(): { keys: JWK[] } {
    return this.jwksDoc;
  }

  /** jose key resolver: an unknown kid triggers one reload (at most every second), then fails. */
  readonly resolve = async (header: JWTHeaderParameters): Promise<CryptoKey> => {
    const kid = header.kid;
    if (!kid || header.alg !== 'EdDSA') throw new joseErrors.JWKSNoMatchingKey();
    let key = this.verifiers.get(kid);
    if (!key && Date.now() - this.lastLoad > 1000) {
      await this.reload();
      key = this.verifiers.get(kid);
    }
    if (!key) throw new joseErrors.JWKSNoMatchingKey();
    return key;
  };
}
