/**
 * A TCP port that is free right now on `host`, for a server started a moment later.
 *
 * Picked below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by
 * default) when it can be: a port the OS hands out for `listen(0)` lies in that range, and so
 * does the source port of every outgoing connection, so between this check and the server's own
 * bind an unrelated connect() (a gRPC client, a CLI call) could take it and the server would fail
 * with EADDRINUSE. Below the range only another listener can take it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * Ports are picked from [LOWEST, HIGHEST): above the agents' default PORT range (5000-5999) and
 * below the ranges the test harness gives its agents (20000 up), so an instance is not handed
 * the port either.
 */
const LOWEST = 10_000;
const HIGHEST = 20_000;
/** Random ports tried before letting the OS pick one. */
const TRIES = 20;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
export function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = Math.min(HIGHEST, ephemeralLow());
  if (high - LOWEST >= 1_000) {
    for (let i = 0; i < TRIES; i++) {
      const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
      if (await canListen(port, host)) return port;
    }
  }
  return listenOnce(0, host);
}

function canListen(port: number, host: string): Promise<boolean> {
  return listenOnce(port, host).then(() => true, () => false);
}

/** Listens on `port` (0: any), closes, and resolves to the port it had. */
function listenOnce(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}
