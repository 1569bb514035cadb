/**
 * gRPC credentials from the cluster's certificates, for every part: servers that accept
 * callers without a certificate (only to join) but know who the others are, and
 * channels whose certificate can be renewed without reconnecting by hand.
 */
import * as grpc from '@grpc/grpc-js';
import type {
  CaCertificateUpdateListener,
  CertificateProvider,
  IdentityCertificateUpdateListener,
} from '@grpc/grpc-js/build/src/certificate-provider';
import { parseCommonName, type Identity } from './identity';

/** A CA, and a certificate with its key, in PEM. */
export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Hands grpc-js the current certificate; `update` swaps it in (renewal) for new connections. */
export class StaticCertificateProvider implements CertificateProvider {
  private readonly caListeners = new Set<CaCertificateUpdateListener>();
  private readonly identityListeners = new Set<IdentityCertificateUpdateListener>();

  constructor(private material: TlsMaterial) {}

  /** The material now (after any renewal). */
  get current(): TlsMaterial {
    return this.material;
  }

  update(material: TlsMaterial): void {
    this.material = material;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(material.caPem) });
    for (const l of this.identityListeners) l(this.identity());
  }

  // grpc-js registers its watcher only after adding the listener: answer asynchronously.
  addCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.add(listener);
    process.nextTick(() => this.caListeners.has(listener) && listener({ caCertificate: Buffer.from(this.material.caPem) }));
  }

  removeCaCertificateListener(listener: CaCertificateUpdateListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener);
    process.nextTick(() => this.identityListeners.has(listener) && listener(this.identity()));
  }

  removeIdentityCertificateListener(listener: IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener);
  }

  private identity() {
    return { certificate: Buffer.from(this.material.certPem), privateKey: Buffer.from(this.material.keyPem) };
  }
}

/**
 * Server credentials that ask every caller for a certificate signed by the cluster CA
 * but let callers without one in (to join); handlers check `peerIdentity`.
 */
export function serverCredentials(provider: StaticCertificateProvider): grpc.ServerCredentials {
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/** Channel credentials presenting our certificate and trusting only the cluster CA. */
export function channelCredentials(provider: StaticCertificateProvider): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(provider, provider);
}

/** Channel options that check the peer's certificate for `name` whatever address is dialled. */
export function targetName(name: string): grpc.ChannelOptions {
  return { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name };
}

/**
 * Who called: the identity in the caller's certificate, which the TLS layer has already
 * checked against the cluster CA (grpc-js only reports certificates it verified).
 */
export function peerIdentity(call: { getAuthContext(): { sslPeerCertificate?: { subject?: { CN?: unknown } } } }): Identity | undefined {
  const cert = call.getAuthContext().sslPeerCertificate;
  const cn = cert?.subject?.CN;
  return typeof cn === 'string' ? parseCommonName(cn) : undefined;
}
