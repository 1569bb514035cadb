/**
 * A small real cluster for benchmarks: a private etcd, one control plane and agents, all
 * child processes of the built `cluster` binary (as test/helpers/test-cluster.ts does, but
 * at the daemons' default log level so logging does not weigh on the figures).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startEtcd, type EtcdServer } from '../../lib/etcd-server';
import { freePort } from '../../lib/free-port';

/** The built CLI (dist/cli/main.js), from dist/bench/lib/. */
export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'main.js');

export class Daemon {
  readonly exited: Promise<void>;

  constructor(readonly name: string, readonly child: ChildProcess, readonly log: string) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class BenchCluster {
  readonly agents = new Map<string, Daemon>();
  controlPlane: Daemon | undefined;

  private constructor(readonly dir: string, readonly etcd: EtcdServer, readonly server: string) {}

  /** etcd + one control plane under `dir` (which the caller owns and removes). */
  static async start(dir: string, controlPlaneNodeArgs: string[] = []): Promise<BenchCluster> {
    const etcd = await startEtcd(path.join(dir, 'etcd'), { log: path.join(dir, 'etcd.log') });
    const cluster = new BenchCluster(dir, etcd, `127.0.0.1:${await freePort()}`);
    try {
      cluster.controlPlane = cluster.spawnDaemon('control-plane', [
        'control-plane', 'start', '--etcd', etcd.url, '--listen', cluster.server, '--data-dir', path.join(dir, 'control-plane'),
      ], controlPlaneNodeArgs);
      await waitUntil('the control plane to answer', async () => {
        if (!cluster.controlPlane!.running) throw new Error(`control plane exited; see ${cluster.controlPlane!.log}`);
        return (await cluster.cli(['apps', '--json'])).code === 0;
      }, 20_000, 100);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CLUSTER_HOME: path.join(this.dir, 'home'), CLUSTER_SERVER: this.server, NO_COLOR: '1' };
  }

  private spawnDaemon(name: string, args: string[], nodeArgs: string[] = []): Daemon {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', fd, fd], env: this.env });
    fs.closeSync(fd);
    return new Daemon(name, child, log);
  }

  /** Starts an agent and waits until it is registered. */
  async startAgent(id: string, nodeArgs: string[] = [], agentArgs: string[] = []): Promise<Daemon> {
    const base = 20000 + Math.floor(Math.random() * 400) * 100;
    const agent = this.spawnDaemon(id, [
      'agent', 'start', '--name', id, '--data-dir', this.agentDir(id), '--listen', '127.0.0.1:0',
      '--ports', `${base}-${base + 99}`, '--stop-grace', '5', ...agentArgs,
    ], nodeArgs);
    this.agents.set(id, agent);
    await waitUntil(`agent ${id} to register`, async () => {
      if (!agent.running) throw new Error(`agent exited; see ${agent.log}`);
      const res = await this.cli(['agents', '--json']);
      return res.code === 0 && (JSON.parse(res.stdout) as { agents: Array<{ id: string }> }).agents.some((a) => a.id === id);
    }, 20_000, 100);
    return agent;
  }

  agentDir(id: string): string {
    return path.join(this.dir, 'agents', id);
  }

  /** Runs the CLI; never throws on a non-zero exit. */
  cli(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: this.env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr });
      });
    });
  }

  async ok(args: string[]): Promise<string> {
    const res = await this.cli(args);
    if (res.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
    return res.stdout;
  }

  /** Agents get SIGTERM (they stop their instances), the rest SIGKILL; etcd stops. */
  async stop(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop('SIGTERM')));
    await this.controlPlane?.stop('SIGKILL');
    await this.etcd.stop();
  }
}
