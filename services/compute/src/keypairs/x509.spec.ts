import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { generateX509KeyPair } from './x509.js';

describe('generateX509KeyPair (Nova generate_winrm_x509_cert)', () => {
  it('makes a self-signed certificate for CN=<user_id> whose key is the returned private key', async () => {
    const gen = await generateX509KeyPair('user-42');
    const cert = new X509Certificate(gen.publicKey);
    expect(gen.publicKey).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(gen.privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(cert.subject).toBe('CN=user-42');
    expect(cert.issuer).toBe('CN=user-42');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    const key = createPrivateKey(gen.privateKey);
    expect(cert.checkPrivateKey(key)).toBe(true);
    expect(
      createPublicKey(key)
        .export({ format: 'der', type: 'spki' })
        .equals(cert.publicKey.export({ format: 'der', type: 'spki' })),
    ).toBe(true);
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // extendedKeyUsage clientAuth
    expect(cert.subjectAltName).toBe('othername:UPN:user-42@localhost');
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.99);
    expect(years).toBeLessThan(10.01);
    expect(gen.fingerprint).toBe(createHash('sha1').update(cert.raw).digest('hex').match(/../g)!.join(':'));
  });
});
