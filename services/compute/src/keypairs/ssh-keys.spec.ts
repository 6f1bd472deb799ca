import { generateRsaKeyPair, parsePublicKey } from './ssh-keys.js';

describe('ssh keys', () => {
  it('a generated RSA public key parses back with the same fingerprint', async () => {
    const k = await generateRsaKeyPair('test');
    const parsed = parsePublicKey(k.publicKey)!;
    expect(parsed.type).toBe('ssh-rsa');
    expect(parsed.fingerprint).toBe(k.fingerprint);
  });

  it('refuses keys whose blob names another type or is truncated', () => {
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-rsa'), Buffer.from([0, 0, 0, 1, 1])]).toString('base64');
    expect(parsePublicKey(`ssh-ed25519 ${blob}`)).toBeUndefined();
    expect(parsePublicKey('ssh-rsa')).toBeUndefined();
    expect(parsePublicKey('ssh-foo AAAA')).toBeUndefined();
    expect(parsePublicKey(`ssh-rsa ${blob}`)?.type).toBe('ssh-rsa');
  });
});
