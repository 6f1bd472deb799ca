import { createHash, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

/** SSH wire format: uint32 length + bytes. */
function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

function mpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return sshString(v);
}

const KEY_TYPES = ['ssh-rsa', 'ssh-ed25519', 'ssh-dss', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521'];

/** Nova's fingerprint: MD5 of the decoded key blob, colon-separated hex. */
export function fingerprintOf(blob: Buffer): string {
  return createHash('md5').update(blob).digest('hex').match(/../g)!.join(':');
}

/**
 * Parses an OpenSSH public key line (`type base64 [comment]`): the blob must decode and name the
 * same key type as the line, otherwise the key is refused (Nova answers 400 "Keypair data is invalid").
 */
export function parsePublicKey(line: string): { type: string; blob: Buffer; fingerprint: string } | undefined {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) return undefined;
  const [type, b64] = parts as [string, string];
  if (!KEY_TYPES.includes(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined;
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 8) return undefined;
  const n = blob.readUInt32BE(0);
  if (4 + n > blob.length || blob.subarray(4, 4 + n).toString('latin1') !== type) return undefined;
  if (type === 'ssh-ed25519') {
    const off = 4 + n;
    if (blob.length < off + 4 || blob.readUInt32BE(off) !== 32 || blob.length !== off + 36) return undefined;
  }
  return { type, blob, fingerprint: fingerprintOf(blob) };
}

/** A new RSA key pair, as Nova generates one: private key PEM (PKCS#1) and an OpenSSH public key. */
export async function generateRsaKeyPair(comment: string): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  const { publicKey, privateKey } = await generate('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' });
  const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), mpint(Buffer.from(jwk.e!, 'base64url')), mpint(Buffer.from(jwk.n!, 'base64url'))]);
  return {
    publicKey: `ssh-rsa ${blob.toString('base64')} ${comment}`,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
    fingerprint: fingerprintOf(blob),
  };
}
