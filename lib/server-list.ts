/**
 * `--server HOST:PORT[,HOST:PORT…]`: the control-plane replicas a client may call. Each
 * entry is a host name, an IPv4 address or a bracketed IPv6 address, and a port.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** A malformed list; the message names the entry. */
export class ServerListError extends Error {
  override name = 'ServerListError';
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Why `entry` is not a HOST:PORT, or undefined when it is; `anyPort`: port 0 too (an address to listen on). */
export function serverEntryProblem(entry: string, opts: { anyPort?: boolean } = {}): string | undefined {
  const m = /^\[([^\]]*)\]:(\d+)$/.exec(entry) ?? /^([^:[\]]*):(\d+)$/.exec(entry);
  if (!m) {
    if (/^[^:]+$/.test(entry)) return `\`${entry}\` has no port: give HOST:PORT`;
    if (isIPv6(entry)) return `\`${entry}\`: write an IPv6 address in brackets, [ADDRESS]:PORT`;
    return `\`${entry}\` is not HOST:PORT`;
  }
  const [, host, port] = m as unknown as [string, string, string];
  const bracketed = entry.startsWith('[');
  if (bracketed ? !isIPv6(host) : !(isIPv4(host) || (HOST_NAME.test(host) && !/^[\d.]+$/.test(host)))) {
    return `\`${entry}\`: \`${host}\` is not a host name or IP address`;
  }
  const n = Number(port);
  if (!((n >= 1 || (opts.anyPort === true && n === 0)) && n <= 65535)) return `\`${entry}\`: port ${port} is not 1-65535`;
  return undefined;
}

/** The entries of a comma-separated list, trimmed and without duplicates; throws naming the first bad entry. */
export function parseServerList(text: string, flag = '--server'): string[] {
  const entries = text.split(',').map((e) => e.trim());
  if (entries.every((e) => e === '')) throw new ServerListError(`${flag} is empty: give HOST:PORT[,HOST:PORT…]`);
  const out: string[] = [];
  entries.forEach((entry, i) => {
    if (entry === '') throw new ServerListError(`${flag} ${text}: entry ${i + 1} is empty`);
    const problem = serverEntryProblem(entry);
    if (problem) throw new ServerListError(`${flag}: ${problem}`);
    if (!out.includes(entry)) out.push(entry);
  });
  return out;
}

/** `first` followed by whatever of `more` is not in it yet. */
export function mergeServers(first: readonly string[], ...more: ReadonlyArray<readonly string[]>): string[] {
  const out = [...first];
  for (const list of more) for (const s of list) if (!out.includes(s)) out.push(s);
  return out;
}
