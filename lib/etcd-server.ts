/** Starts a private etcd (for `cluster dev`, tests and benchmarks) and stops it again. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort } from './free-port';

export class EtcdNotInstalledError extends Error {
  override name = 'EtcdNotInstalledError';
}

export interface EtcdServer {
  url: string;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function etcdBinary(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** Starts etcd on free loopback ports with its own data dir; resolves once it answers. */
export async function startEtcd(dataDir: string, opts: { host?: string; log?: string } = {}): Promise<EtcdServer> {
  const binary = etcdBinary();
  if (!binary) {
    throw new EtcdNotInstalledError('etcd is not installed: install the Debian package `etcd-server` (apt-get install etcd-server)');
  }
  const host = opts.host ?? '127.0.0.1';
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const [clientPort, peerPort] = [await freePort(host), await freePort(host)];
  const url = `http://${host}:${clientPort}`;
  const out = opts.log ? fs.openSync(opts.log, 'a') : 'ignore';
  const child = spawn(
    binary,
    [
      '--name', 'cluster-etcd',
      '--data-dir', dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://${host}:${peerPort}`,
      '--initial-advertise-peer-urls', `http://${host}:${peerPort}`,
      '--initial-cluster', `cluster-etcd=http://${host}:${peerPort}`,
      // Keeps etcd's memory small (STACK-NOTES: the default of 100,000 grew it to GBs).
      '--snapshot-count', '10000',
      '--auto-compaction-mode', 'revision',
      '--auto-compaction-retention', '10000',
      '--logger=zap',
      '--log-level=warn',
    ],
    { stdio: ['ignore', out, out] },
  );
  if (typeof out === 'number') fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };

  const client = new Etcd3({ hosts: url, dialTimeout: 1_000 });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`etcd exited with status ${child.exitCode} while starting${opts.log ? `; see ${opts.log}` : ''}`);
      try {
        await client.maintenance.status({ deadline: Date.now() + 1_000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`etcd did not answer on ${url} within 15 s: ${(err as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  } finally {
    client.close();
  }
  return { url, dataDir: path.resolve(dataDir), process: child, stop };
}
