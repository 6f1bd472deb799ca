import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { signToken } from './claims.js';
import type { RevocationService } from './revocation.service.js';
import { RevocationList } from './revocations.js';
import { remoteKeys, TokenVerifier } from './token-verifier.js';

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' } };
}

describe('remoteKeys (JWKS of identity, fetched by every other service)', () => {
  let server: Server;
  let served: object[] = [];
  let fetches = 0;
  let url = '';

  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const sign = (k: Awaited<ReturnType<typeof keyPair>>) => new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'EdDSA', kid: k.kid }).sign(k.privateKey);

  it('accepts a token of a key published just after its last fetch (rotation inside the cooldown)', async () => {
    const [a, b] = await Promise.all([keyPair('a'), keyPair('b')]);
    served = [a.jwk];
    const keys = remoteKeys(url);
    await jwtVerify(await sign(a), keys);
    // identity rotates now: the new key appears while this process is still cooling down
    served = [a.jwk, b.jwk];
    const before = fetches;
    await expect(jwtVerify(await sign(b), keys)).resolves.toMatchObject({ protectedHeader: { kid: 'b' } });
    expect(fetches).toBe(before + 1);
  });

  it('still refuses a kid that identity does not publish, fetching at most once per cooldown', async () => {
    const [a, forged] = await Promise.all([keyPair('a2'), keyPair('forged')]);
    served = [a.jwk];
    const keys = remoteKeys(url);
    await jwtVerify(await sign(a), keys);
    const before = fetches;
    const attempts = await Promise.allSettled(Array.from({ length: 5 }, async () => jwtVerify(await sign(forged), keys)));
    for (const r of attempts) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    }
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});

describe('TokenVerifier signature cache', () => {
  const issuer = 'http://identity.test';
  async function setup() {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA');
    let lookups = 0;
    const keys = async () => {
      lookups++;
      return publicKey;
    };
    const revocations = new RevocationList();
    const verifier = new TokenVerifier(keys, issuer, { check: (a: Parameters<RevocationList['check']>[0]) => revocations.check(a) } as unknown as RevocationService);
    const now = Math.floor(Date.now() / 1000);
    const token = (exp = now + 3600, jti = `jti-${Math.random()}`) =>
      signToken({ sub: 'user-1', jti, iat: now, exp, ud: 'default', m: ['password'], r: ['member'], p: 'proj-1', pd: 'default' }, privateKey, 'k1', issuer);
    return { verifier, revocations, token, lookups: () => lookups };
  }

  it('checks a token signature once, then serves the same token from the cache', async () => {
    const s = await setup();
    const t = await s.token();
    for (let i = 0; i < 5; i++) await expect(s.verifier.verify(t)).resolves.toMatchObject({ userId: 'user-1', projectId: 'proj-1' });
    expect(s.lookups()).toBe(1);
    // Another token (same user) is verified on its own.
    await s.verifier.verify(await s.token());
    expect(s.lookups()).toBe(2);
  });

  it('refuses a cached token once it is revoked, or its key is rotated out', async () => {
    const s = await setup();
    const t = await s.token(undefined, 'audit-r');
    await s.verifier.verify(t);
    s.revocations.add([{ auditId: 'audit-r', expiresAt: Date.now() + 3_600_000 }]);
    await expect(s.verifier.verify(t)).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/revoked/) });
    const t2 = await s.token();
    await s.verifier.verify(t2);
    s.revocations.add([{ keyId: 'k1', expiresAt: Date.now() + 3_600_000 }]);
    await expect(s.verifier.verify(t2)).rejects.toMatchObject({ status: 401, message: expect.stringMatching(/rotated out/) });
  });

  it('never serves a token past its expiry, and never caches a forged one', async () => {
    const s = await setup();
    const short = await s.token(Math.floor(Date.now() / 1000) + 1);
    await s.verifier.verify(short);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Past `exp` the cache entry is dead; jose then applies its 5 s clock tolerance itself.
    await s.verifier.verify(short);
    expect(s.lookups()).toBe(2);
    const good = await s.token();
    const forged = `${good.slice(0, -4)}AAAA`;
    for (let i = 0; i < 2; i++) await expect(s.verifier.verify(forged)).rejects.toMatchObject({ status: 401 });
    expect(s.lookups()).toBe(4);
  });
});
