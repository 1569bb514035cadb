/**
 * Whether an etcd process just started serves, and is the one started: a member that answers
 * on its client URL (here, or from a network namespace), through a socket its own process holds.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';

/** etcd exited while starting (most often: a port was taken meanwhile). */
export class EtcdExitedError extends Error {
  override name = 'EtcdExitedError';
}

/**
 * Whether `url` + `route` answers 200 from where `prefix` runs (another network namespace,
 * out of this process's reach): a tiny Node script run there, since etcdctl may be absent.
 */
export function answersThere(prefix: string[], url: string, route: string): boolean {
  const script = `require('http').get(${JSON.stringify(url + route)}, { timeout: 1000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1))` +
    `.on('error', () => process.exit(1)).on('timeout', () => process.exit(1))`;
  return spawnSync(prefix[0]!, [...prefix.slice(1), process.execPath, '-e', script], { stdio: 'ignore', timeout: 5_000 }).status === 0;
}

/** Polls under `prefix` until the member answers (`/version` needs no quorum). */
export async function waitUntilAnsweringThere(prefix: string[], url: string, child: ChildProcess, log?: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new EtcdExitedError(`etcd exited with status ${child.exitCode} while starting${log ? `; see ${log}` : ''}`);
    if (answersThere(prefix, url, '/version')) return;
    if (Date.now() > deadline) throw new Error(`etcd did not answer on ${url} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Polls the member's client URL until it answers a status call (no quorum needed for that), and
 * the port is ours: another etcd that took it between our look and our start answers there too,
 * for as long as ours takes to exit on its failed bind (two test files starting etcd at once had
 * one use the other's, compactions included). Ours when our process holds a socket listening on
 * that port (a restart on new ports with an existing data dir keeps its first peer URL in the
 * member list, so that cannot tell).
 */
export async function waitUntilAnswering(url: string, child: ChildProcess, log?: string, timeoutMs = 15_000): Promise<void> {
  // No circuit breaker and a short reconnect backoff: etcd3's default breaker, open for 5 s after
  // three failed probes of a member still starting, and grpc's growing backoff each made the
  // probe miss a member that came up meanwhile (a restarted member "did not answer within 15 s").
  const client = new Etcd3({
    hosts: url,
    dialTimeout: 1_000,
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 500 },
  });
  const port = Number(new URL(url).port);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new EtcdExitedError(`etcd exited with status ${child.exitCode} while starting${log ? `; see ${log}` : ''}`);
      let problem: string;
      try {
        await client.maintenance.status({ deadline: Date.now() + 1_000 });
        if (child.pid === undefined || listensOn(child.pid, port)) return;
        problem = `another process answers on ${url}, not the etcd started here (pid ${child.pid})`;
      } catch (err) {
        problem = `etcd did not answer on ${url} within ${timeoutMs / 1000} s: ${(err as Error).message}`;
      }
      if (Date.now() > deadline) throw new Error(problem);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.close();
  }
}

/** Whether process `pid` holds a TCP socket listening on `port` (/proc/net/tcp{,6} and its fds). */
export function listensOn(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st … inode: the local port after the colon, state 0A = LISTEN.
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[3] === '0A' && fields[1]!.endsWith(`:${hexPort}`)) inodes.add(fields[9]!);
    }
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}
