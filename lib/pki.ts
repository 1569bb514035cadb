/**
 * The cluster's certificates: an ECDSA P-256 CA, certificate signing requests made by
 * agents and operators with keys that never leave them, and the identities certificates
 * carry. Used by the control plane (signing), agents and the CLI (requesting).
 */
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

let x509Lib: typeof X509 | undefined;

/**
 * @peculiar/x509, loaded on first use: it is ~230 modules (~5–8 MB of a daemon's memory, ~70 ms
 * of a start), and agents and the CLI need it only to join, log in or renew a certificate.
 */
function loadX509(): typeof X509 {
  if (!x509Lib) {
    require('reflect-metadata'); // @peculiar/x509 throws on load without it (docs/stack-notes.md)
    x509Lib = require('@peculiar/x509') as typeof X509;
    x509Lib.cryptoProvider.set(webcrypto as unknown as Crypto);
  }
  return x509Lib;
}

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export { CONTROL_PLANE_NAME, agentHostName, commonName, parseCommonName, type Identity, type IdentityKind } from './identity';
import { commonName, parseCommonName, type Identity } from './identity';

export interface KeyPair {
  privateKeyPem: string;
  keys: CryptoKeyPair;
}

export interface Issued {
  certPem: string;
  keyPem: string;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function fromPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

export async function generateKeyPair(): Promise<KeyPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey);
  return { keys, privateKeyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('pkcs8', fromPem(pem), ALG, false, ['sign'])) as unknown as CryptoKey;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f; // positive
  return bytes.toString('hex');
}

/** A new self-signed cluster CA, valid for ten years. */
export async function createCA(name = 'cluster CA'): Promise<Issued> {
  const x509 = loadX509();
  const { keys, privateKeyPem } = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3650 * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: privateKeyPem };
}

/** `sha256:<hex>` of the CA certificate's DER: the pin new servers check (as kubeadm's). */
export function caHash(certPem: string): string {
  return `sha256:${createHash('sha256').update(fromPem(certPem)).digest('hex')}`;
}

/** A signing request for `identity`, made with the caller's own key. */
export async function createCsr(identity: Identity, keys: CryptoKeyPair): Promise<string> {
  const x509 = loadX509();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName(identity)}`, keys, signingAlgorithm: ALG });
  return csr.toString('pem');
}

export interface SignOptions {
  identity: Identity;
  days: number;
  dnsNames?: string[];
  ips?: string[];
}

/** Signs a CSR with the CA after checking its signature; the CA decides the subject, not the CSR. */
export async function signCsr(ca: Issued, csrPem: string, opts: SignOptions): Promise<string> {
  const x509 = loadX509();
  let csr: X509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch {
    throw new Error('the certificate signing request is not valid PEM/PKCS#10');
  }
  if (!(await csr.verify())) throw new Error('the certificate signing request is not signed by its own key');
  return issue(ca, await csr.publicKey.export(), opts);
}

/** Issues a certificate with a fresh key (for the control plane's own serving certificate). */
export async function issueWithNewKey(ca: Issued, opts: SignOptions): Promise<Issued> {
  const { keys, privateKeyPem } = await generateKeyPair();
  return { certPem: await issue(ca, keys.publicKey, opts), keyPem: privateKeyPem };
}

async function issue(ca: Issued, publicKey: CryptoKey, opts: SignOptions): Promise<string> {
  const x509 = loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const now = Date.now();
  const names: X509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${commonName(opts.identity)}`,
    issuer: caCert.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + opts.days * DAY_MS),
    signingAlgorithm: ALG,
    publicKey,
    signingKey: await importPrivateKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
    ],
  });
  return cert.toString('pem');
}

/** When a certificate expires, and when it became valid (ms). */
export function validity(certPem: string): { notBeforeMs: number; notAfterMs: number } {
  const cert = new X509Certificate(certPem); // Node's own parser: no need for the x509 stack here
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
}

/**
 * The identity a peer certificate (DER, as TLS gives it) proves, if the cluster CA signed
 * it and it is valid now; undefined otherwise.
 */
export async function verifyPeer(caPem: string, der: Buffer): Promise<{ identity: Identity; notAfterMs: number } | undefined> {
  const x509 = loadX509();
  try {
    const ca = new x509.X509Certificate(caPem);
    const cert = new x509.X509Certificate(new Uint8Array(der));
    const now = new Date();
    if (cert.notBefore > now || cert.notAfter < now) return undefined;
    if (!(await cert.verify({ publicKey: ca.publicKey, signatureOnly: true }))) return undefined;
    const cn = /(?:^|,\s*)CN=([^,]+)/.exec(cert.subject)?.[1];
    const identity = cn ? parseCommonName(cn) : undefined;
    return identity && { identity, notAfterMs: cert.notAfter.getTime() };
  } catch {
    return undefined;
  }
}

/** Makes a key and a CSR for `identity`. */
export async function keyAndCsr(identity: Identity): Promise<{ keyPem: string; csrPem: string }> {
  const { keys, privateKeyPem } = await generateKeyPair();
  return { keyPem: privateKeyPem, csrPem: await createCsr(identity, keys) };
}
