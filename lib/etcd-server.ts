/**
 * Starts a private etcd (for `cluster dev`, tests and benchmarks) and stops it again: one
 * member, or a cluster of several members on loopback ports. A member can be stopped,
 * killed, paused and started again on the same ports and data dir (to test etcd outages).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './free-port';

export class EtcdNotInstalledError extends Error {
  override name = 'EtcdNotInstalledError';
}

export interface EtcdServer {
  /** The client URL of the first member (the only one of a single-member etcd). */
  url: string;
  /** Every member's client URL, in member order. */
  urls: string[];
  dataDir: string;
  /** The first member's process (replaced when it is started again). */
  readonly process: ChildProcess;
  members: EtcdMember[];
  stop(): Promise<void>;
}

export function etcdBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

function requireBinary(): string {
  const binary = etcdBinary();
  if (!binary) {
    throw new EtcdNotInstalledError('etcd is not installed: install the Debian package `etcd-server` (apt-get install etcd-server)');
  }
  return binary;
}

/** One etcd member process that can be stopped and started again with the same identity. */
export class EtcdMember {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly url: string,
    readonly dataDir: string,
    private readonly args: string[],
    private readonly log?: string,
  ) {}

  get process(): ChildProcess {
    if (!this.child) throw new Error(`etcd member ${this.name} was never started`);
    return this.child;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the member (again); does not wait for it to answer (a lone member of three cannot). */
  spawn(): void {
    if (this.running) return;
    const out = this.log ? fs.openSync(this.log, 'a') : 'ignore';
    const child = spawn(requireBinary(), this.args, { stdio: ['ignore', out, out] });
    if (typeof out === 'number') fs.closeSync(out);
    this.child = child;
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }

  /** Sends `signal` and, unless it pauses or resumes the member, waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child!.kill(signal);
    if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await this.exited;
  }

  stop(): Promise<void> {
    // A paused member would never see the SIGTERM.
    if (this.running) this.child!.kill('SIGCONT');
    return this.kill('SIGTERM');
  }

  /** Resolves once the member answers a status request; throws after `timeoutMs`. */
  async waitUntilServing(timeoutMs = 15_000): Promise<void> {
    const client = new Etcd3({ hosts: this.url, dialTimeout: 1_000 });
    try {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (!this.running) throw new Error(`etcd exited with status ${this.child?.exitCode} while starting${this.log ? `; see ${this.log}` : ''}`);
        try {
          // A range is served only with a leader, unlike a status request.
          await client.get('cluster-etcd-probe').options({ deadline: Date.now() + 1_000 });
          return;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`etcd did not answer on ${this.url} within ${timeoutMs / 1000} s: ${(err as Error).message}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      client.close();
    }
  }
}

/**
 * Starts an etcd of `members` members (default 1) on free ports of `host`, each with its data
 * dir under `dataDir` (a single member uses `dataDir` itself); resolves once every member answers.
 */
export async function startEtcd(dataDir: string, opts: { host?: string; log?: string; members?: number } = {}): Promise<EtcdServer> {
  requireBinary();
  const host = opts.host ?? '127.0.0.1';
  const count = opts.members ?? 1;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const ports: Array<{ client: number; peer: number; name: string }> = [];
  for (let i = 0; i < count; i++) {
    ports.push({ client: await freePort(host), peer: await freePort(host), name: count === 1 ? 'cluster-etcd' : `cluster-etcd-${i + 1}` });
  }
  const initialCluster = ports.map((p) => `${p.name}=http://${host}:${p.peer}`).join(',');
  const members = ports.map((p) => {
    const url = `http://${host}:${p.client}`;
    const dir = count === 1 ? dataDir : path.join(dataDir, p.name);
    const log = opts.log && count > 1 ? opts.log.replace(/(\.log)?$/, `-${p.name}.log`) : opts.log;
    return new EtcdMember(p.name, url, path.resolve(dir), [
      '--name', p.name,
      '--data-dir', dir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://${host}:${p.peer}`,
      '--initial-advertise-peer-urls', `http://${host}:${p.peer}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      // Keeps etcd's memory small (docs/stack-notes.md: the default of 100,000 grew it to GBs).
      '--snapshot-count', '10000',
      '--auto-compaction-mode', 'revision',
      '--auto-compaction-retention', '10000',
      '--logger=zap',
      '--log-level=warn',
    ], log);
  });
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop()));
  };
  try {
    for (const member of members) member.spawn();
    await Promise.all(members.map((m) => m.waitUntilServing()));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: members[0]!.url,
    urls: members.map((m) => m.url),
    dataDir: path.resolve(dataDir),
    get process() {
      return members[0]!.process;
    },
    members,
    stop,
  };
}
