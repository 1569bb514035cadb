/**
 * Starts a private etcd (for `cluster dev`, tests and benchmarks) and stops it again; the members
 * of a test cluster are in etcd-cluster.ts, the checks that one has started in etcd-readiness.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './free-port';
import { EtcdExitedError, waitUntilAnswering } from './etcd-readiness';

export { EtcdExitedError } from './etcd-readiness';

export class EtcdNotInstalledError extends Error {
  override name = 'EtcdNotInstalledError';
}

export interface EtcdServer {
  url: string;
  /** Where members talk to each other (given again to start it on the same ports). */
  peerUrl: string;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function etcdBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

export interface StartEtcdOptions {
  host?: string;
  log?: string;
  /** The URLs of an earlier run, to start it again where its clients look (else free ports). */
  urls?: { client: string; peer: string };
}

/** Starts etcd on free loopback ports (or `urls`) with its own data dir; resolves once it answers. */
export async function startEtcd(dataDir: string, opts: StartEtcdOptions = {}): Promise<EtcdServer> {
  if (opts.urls) return startEtcdOnce(dataDir, opts);
  // As EtcdCluster.start: a port taken between the look and etcd's bind costs a second try.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdOnce(dataDir, opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof EtcdExitedError)) throw err;
    }
  }
}

async function startEtcdOnce(dataDir: string, opts: StartEtcdOptions): Promise<EtcdServer> {
  const member = { name: 'cluster-etcd', dataDir, ...(opts.urls ? { clientUrl: opts.urls.client, peerUrl: opts.urls.peer } : await freeUrls(opts.host ?? '127.0.0.1')) };
  const child = spawnMember(member, `cluster-etcd=${member.peerUrl}`, opts.log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitUntilAnswering(member.clientUrl, child, opts.log);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: member.clientUrl, peerUrl: member.peerUrl, dataDir: path.resolve(dataDir), process: child, stop };
}

export async function freeUrls(host: string): Promise<{ clientUrl: string; peerUrl: string }> {
  const clientPort = await freePort(host);
  let peerPort = await freePort(host);
  while (peerPort === clientPort) peerPort = await freePort(host);
  return { clientUrl: `http://${host}:${clientPort}`, peerUrl: `http://${host}:${peerPort}` };
}

export interface MemberSpec {
  name: string;
  dataDir: string;
  clientUrl: string;
  peerUrl: string;
}

/** `prefix`: a command that runs etcd elsewhere (e.g. `ip netns exec NS` for a test host). */
export function spawnMember(member: MemberSpec, initialCluster: string, log?: string, prefix: string[] = []): ChildProcess {
  const binary = etcdBinary();
  if (!binary) {
    throw new EtcdNotInstalledError('etcd is not installed: install the Debian package `etcd-server` (apt-get install etcd-server)');
  }
  fs.mkdirSync(member.dataDir, { recursive: true, mode: 0o700 });
  const out = log ? fs.openSync(log, 'a') : 'ignore';
  // On a restart (data dir already initialised) etcd ignores the --initial-* flags.
  const child = spawn(
    prefix[0] ?? binary,
    [
      ...(prefix.length > 0 ? [...prefix.slice(1), binary] : []),
      '--name', member.name,
      '--data-dir', member.dataDir,
      '--listen-client-urls', member.clientUrl,
      '--advertise-client-urls', member.clientUrl,
      '--listen-peer-urls', member.peerUrl,
      '--initial-advertise-peer-urls', member.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      // Keeps etcd's memory small (docs/stack-notes.md: the default of 100,000 grew it to GBs).
      '--snapshot-count', '10000',
      '--auto-compaction-mode', 'revision',
      '--auto-compaction-retention', '10000',
      '--logger=zap',
      '--log-level=warn',
    ],
    { stdio: ['ignore', out, out] },
  );
  if (typeof out === 'number') fs.closeSync(out);
  return child;
}
