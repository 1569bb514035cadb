/**
 * A TCP port that is free right now on `host`, for a server started a moment later.
 *
 * Picked below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`, 32768–60999 by
 * default) when it can be: a port the OS hands out for `listen(0)` lies in that range, and so
 * does the source port of every outgoing connection, so between this check and the server's own
 * bind an unrelated connect() (a gRPC client, a CLI call) could take it and the server would fail
 * with EADDRINUSE. Below the range only another listener can take it.
 *
 * A port that is free now may be someone's still: a server stopped for a while (an etcd member
 * or a replica killed and started again on its address) leaves its port free meanwhile, and its
 * clients dial it again. When CLUSTER_PORT_CLAIMS names a directory (the test suite sets it:
 * docs/testing.md), each port handed out is claimed there, a file named after it, for as long
 * as that directory lasts, and no other process (nor this one) is given it again.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

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
      if (await canListen(port, host) && claim(port)) return port;
    }
  }
  for (let i = 0; i < TRIES; i++) {
    const port = await listenOnce(0, host);
    if (claim(port)) return port;
  }
  throw new Error(`no free port on ${host} that is not claimed already (${process.env.CLUSTER_PORT_CLAIMS})`);
}

/** Claims `port` (see the file comment); false when it was claimed before. Always true without CLUSTER_PORT_CLAIMS. */
function claim(port: number): boolean {
  const dir = process.env.CLUSTER_PORT_CLAIMS;
  if (!dir) return true;
  try {
    // O_EXCL: of two processes claiming the same port at once, one gets EEXIST.
    fs.writeFileSync(path.join(dir, String(port)), `${process.pid}\n`, { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`cannot claim port ${port} in CLUSTER_PORT_CLAIMS (${dir}): ${(err as Error).message}`);
  }
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
