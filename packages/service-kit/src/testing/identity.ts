import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { type KumoTokenClaims, newAuditId, signToken } from '../auth/claims.js';

export interface TestTokenOptions {
  userId?: string;
  userDomainId?: string;
  projectId?: string;
  projectDomainId?: string;
  domainId?: string;
  system?: boolean;
  roles?: string[];
  methods?: string[];
  /** seconds from now; negative for an already expired token */
  expiresIn?: number;
  issuedAt?: number;
  issuer?: string;
}

/**
 * A stand-in for the identity service's token issuing, for testing other services on their own:
 * an Ed25519 key pair whose public half is served as a JWKS on 127.0.0.1, and tokens signed with
 * the same claim format and code (signToken) that identity uses. Point the service under test at
 * it with KUMO_IDENTITY_URL=identity.url.
 */
export class TestIdentity {
  readonly keyId = `test-${randomUUID().slice(0, 8)}`;
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly privateKey: CryptoKey,
    readonly issuer: string,
  ) {}

  static async start(issuer = 'kumo'): Promise<TestIdentity> {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    let jwks = '';
    const server = createServer((req, res) => {
      if (req.url === '/.well-known/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const identity = new TestIdentity(server, `http://127.0.0.1:${port}`, privateKey, issuer);
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: identity.keyId, alg: 'EdDSA', use: 'sig' }] });
    return identity;
  }

  async token(options: TestTokenOptions = {}): Promise<string> {
    const now = options.issuedAt ?? Math.floor(Date.now() / 1000);
    const claims: KumoTokenClaims = {
      sub: options.userId ?? 'user-1',
      jti: newAuditId(),
      iat: now,
      exp: now + (options.expiresIn ?? 3600),
      ud: options.userDomainId ?? 'default',
      m: options.methods ?? ['password'],
      r: options.roles ?? ['member', 'reader'],
      ...(options.projectId ? { p: options.projectId, pd: options.projectDomainId ?? 'default' } : {}),
      ...(options.domainId ? { d: options.domainId } : {}),
      ...(options.system ? { sys: true as const } : {}),
    };
    return signToken(claims, this.privateKey, this.keyId, options.issuer ?? this.issuer);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
