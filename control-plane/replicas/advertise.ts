/**
 * The address a replica advertises to clients: `--advertise`, else the listen address;
 * a wildcard listen address (0.0.0.0, ::) is replaced by the first non-internal interface
 * address (IPv4 preferred), never by a host name that other machines may not resolve.
 */
import * as os from 'node:os';

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function splitHostPort(address: string): { host: string; port: string } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(address);
  return m ? { host: m[1]!, port: m[2]! } : undefined;
}

export function joinHostPort(host: string, port: string | number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `listen` with its real port (after binding port 0), or `advertise` when given. */
export function advertisedAddress(
  listen: string,
  boundPort: number,
  advertise?: string,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): string {
  if (advertise) {
    if (!splitHostPort(advertise)) throw new Error(`--advertise ${advertise}: give HOST:PORT`);
    return advertise;
  }
  const hp = splitHostPort(listen);
  const host = hp?.host ?? '';
  if (!WILDCARDS.has(host)) return joinHostPort(host, boundPort);
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((i) => !i.internal);
  const chosen = all.find((i) => i.family === 'IPv4') ?? all.find((i) => i.family === 'IPv6' && !i.address.startsWith('fe80'));
  if (!chosen) throw new Error(`listening on ${listen} and no non-loopback interface address to advertise: pass --advertise HOST:PORT`);
  return joinHostPort(chosen.address, boundPort);
}
