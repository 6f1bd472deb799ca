import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { remoteKeys } from './token-verifier.js';

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
