import { randomBytes } from 'node:crypto';
import { type CryptoKey, type JWTPayload, SignJWT } from 'jose';

/**
 * What a Kumo token carries. Kept compact (< 1 KiB as a JWT, no catalog): every service needs
 * only who, which scope and which roles to authorise a request; identity expands the rest
 * (names, catalog) when it validates a token for a client.
 */
export interface KumoTokenClaims extends JWTPayload {
  /** user id */
  sub: string;
  /** audit id: identifies this token for revocation and in audit logs */
  jti: string;
  iat: number;
  exp: number;
  /** user's domain id */
  ud: string;
  /** authentication methods: password, token, application_credential, openid */
  m: string[];
  /** effective role names (implied roles already expanded) */
  r: string[];
  /** project scope: project id and its domain id */
  p?: string;
  pd?: string;
  /** domain scope */
  d?: string;
  /** system scope (`system: {all: true}`) */
  sys?: true;
  /** application credential used to log in, and whether it may create other credentials */
  ac?: string;
  acu?: boolean;
  /** audit chain: the audit id of the token this one was exchanged from (method `token`) */
  ach?: string;
  /** identity provider, for federated users */
  idp?: string;
}

export const TOKEN_ALGORITHM = 'EdDSA';

/** The verified identity of a request's caller, as every service sees it. */
export interface AuthContext {
  token: string;
  auditId: string;
  /** audit ids as Keystone lists them: this token's, then the one it was exchanged from */
  auditIds: string[];
  userId: string;
  userDomainId: string;
  projectId?: string;
  projectDomainId?: string;
  domainId?: string;
  system: boolean;
  roles: string[];
  methods: string[];
  issuedAt: Date;
  expiresAt: Date;
  keyId?: string;
  appCredId?: string;
  appCredUnrestricted?: boolean;
  identityProvider?: string;
}

export function newAuditId(): string {
  // Keystone audit ids: 16 random bytes, url-safe base64 without padding (22 characters).
  return randomBytes(16).toString('base64url');
}

export async function signToken(claims: KumoTokenClaims, key: CryptoKey | Uint8Array, keyId: string, issuer: string): Promise<string> {
  const { iat, exp, ...rest } = claims;
  return new SignJWT(rest).setProtectedHeader({ alg: TOKEN_ALGORITHM, kid: keyId, typ: 'kumo+jwt' }).setIssuer(issuer).setIssuedAt(iat).setExpirationTime(exp).sign(key);
}

export function authContextOf(token: string, claims: KumoTokenClaims, keyId?: string): AuthContext {
  return {
    token,
    auditId: claims.jti,
    auditIds: claims.ach ? [claims.jti, claims.ach] : [claims.jti],
    userId: claims.sub,
    userDomainId: claims.ud,
    projectId: claims.p,
    projectDomainId: claims.pd,
    domainId: claims.d,
    system: claims.sys === true,
    roles: claims.r ?? [],
    methods: claims.m ?? [],
    issuedAt: new Date(claims.iat * 1000),
    expiresAt: new Date(claims.exp * 1000),
    keyId,
    appCredId: claims.ac,
    appCredUnrestricted: claims.acu,
    identityProvider: claims.idp,
  };
}
