import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generate = promisify(generateKeyPair);

/** Microsoft's User Principal Name otherName (what WinRM certificate authentication maps to a user). */
const UPN_OID = '1.3.6.1.4.1.311.20.2.3';

/** Nova's x509 fingerprint: SHA-1 of the DER certificate, colon-separated lowercase hex. */
export function x509Fingerprint(cert: X509Certificate): string {
  return cert.fingerprint.toLowerCase();
}

/**
 * A new x509 keypair as Nova's `crypto.generate_winrm_x509_cert(user_id)` makes one: an RSA 2048
 * key (PKCS#1 PEM), a self-signed SHA-256 certificate with subject and issuer `CN=<user_id>`,
 * valid 10 years, extendedKeyUsage clientAuth and subjectAltName otherName UPN `<user_id>@localhost`.
 * The certificate PEM is the keypair's public_key. The key is made by Node (native, fast);
 * node-forge only builds and signs the certificate, which Node 20's crypto cannot.
 */
export async function generateX509KeyPair(userId: string): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  const { privateKey } = await generate('rsa', { modulusLength: 2048 });
  const privatePem = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const key = forge.pki.privateKeyFromPem(privatePem) as forge.pki.rsa.PrivateKey;

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.rsa.setPublicKey(key.n, key.e);
  // A positive 159-bit serial (RFC 5280: at most 20 octets, non-negative), as cryptography's random_serial_number.
  const serial = randomBytes(20);
  serial[0] = serial[0]! & 0x7f;
  cert.serialNumber = serial.toString('hex');
  const now = new Date();
  cert.validity.notBefore = now;
  cert.validity.notAfter = new Date(now.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const name = [{ shortName: 'CN', value: userId, valueTagClass: forge.asn1.Type.UTF8 as unknown as forge.asn1.Class }];
  cert.setSubject(name);
  cert.setIssuer(name);
  const { asn1 } = forge;
  // otherName ::= [0] { type-id OID, value [0] EXPLICIT UTF8String }; forge builds only primitive alt names, so the extension is given as ASN.1.
  const upn = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(UPN_OID).getBytes()),
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(`${userId}@localhost`)),
      ]),
    ]),
  ]);
  cert.setExtensions([
    { name: 'extKeyUsage', clientAuth: true },
    { id: '2.5.29.17', name: 'subjectAltName', value: upn },
  ]);
  cert.sign(key, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
  return { publicKey: certPem, privateKey: privatePem, fingerprint: x509Fingerprint(new X509Certificate(certPem)) };
}
