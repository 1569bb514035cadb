/** The dashboard's HTTPS certificate: signed by the cluster CA, for the names its link uses. */
import * as os from 'node:os';
import { isIP } from 'node:net';
import { issueWithNewKey, type Issued } from '../../lib/pki';
import type { TlsMaterial } from '../../lib/tls';

/** A certificate for `hosts` (IPs or DNS names) plus this machine's names and loopback. */
export async function dashboardCertificate(ca: Issued, hosts: string[]): Promise<TlsMaterial> {
  const wanted = hosts.filter((h) => h && h !== '0.0.0.0' && h !== '::');
  const ips = new Set(['127.0.0.1', '::1', ...wanted.filter((h) => isIP(h))]);
  const dnsNames = new Set(['localhost', os.hostname(), ...wanted.filter((h) => !isIP(h))]);
  const own = await issueWithNewKey(ca, {
    identity: { kind: 'control-plane', name: 'control-plane' },
    days: 365,
    dnsNames: [...dnsNames],
    ips: [...ips],
  });
  return { caPem: ca.certPem, ...own };
}

/** The host a link should name: the listen host, or the replica's advertised host for a wildcard. */
export function linkHost(httpHost: string, advertised: string): string {
  if (httpHost !== '0.0.0.0' && httpHost !== '::' && httpHost !== '') return httpHost;
  return advertised.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
}

/** scheme://host:port, with brackets around an IPv6 host. */
export function baseUrl(secure: boolean, host: string, port: number): string {
  return `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
