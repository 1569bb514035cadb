/**
 * The IP a gRPC peer called from, as `call.getPeer()` reports it (`1.2.3.4:5678`,
 * `::1:5678`, `[::1]:5678`, `::ffff:10.0.0.7:5678`, optionally prefixed `ipv4:`/`ipv6:`),
 * the HOST:PORT to dial it back on another port, and whether a host is a loopback address.
 */
import { isIP } from 'node:net';

/** The caller's IP (IPv4-mapped IPv6 addresses as plain IPv4), or undefined when `peer` is not an IP peer. */
export function peerIp(peer: string): string | undefined {
  let rest = peer.replace(/^ipv[46]:/, '');
  let host: string;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(rest);
  if (bracketed) host = bracketed[1]!;
  else {
    if (isIP(rest)) host = rest; // no port at all
    else {
      const colon = rest.lastIndexOf(':');
      if (colon < 0) return undefined;
      host = rest.slice(0, colon);
    }
  }
  host = host.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) means nothing to another host
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) host = mapped[1]!;
  rest = host;
  return isIP(rest) ? rest : undefined;
}

/** `ip` and `port` as a dialable HOST:PORT (IPv6 in brackets). */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Whether a host (a name or an address without brackets or port) is a loopback address. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
