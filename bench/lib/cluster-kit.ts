/**
 * A private cluster for the benchmarks: etcd, a control plane and agents as child processes of
 * the built `cluster` binary (as test/helpers/test-cluster.ts does, at the daemons' default log
 * level), everything stopped at clean-up, and a gRPC client of the cluster API so that the
 * benchmark's own calls do not pay a CLI start each time.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startEtcd, type EtcdServer } from '../../lib/etcd-server';
import { freePort } from '../../lib/free-port';
import { callUnary } from '../../lib/grpc-call';
import { apiProto, CHANNEL_OPTIONS } from '../../proto/load';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../../proto/gen/cluster/api/InstanceInfo';
import { deployDirectory } from '../../cli/commands/deploy';
import { onCleanup, sleep } from './runs';

/** The built CLI (dist/cli/main.js), from dist/bench/lib/. */
export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'main.js');

export class Proc {
  readonly exited: Promise<void>;

  constructor(readonly name: string, readonly child: ChildProcess, readonly log: string) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    onCleanup(() => this.stop('SIGKILL', 0));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface AgentOptions {
  datacenter?: string;
  labels?: Record<string, string>;
  capacity?: number;
  nodeArgs?: string[];
  stopGrace?: number;
  /** Another entry script than dist/cli/main.js. */
  entry?: string;
}

export class Kit {
  controlPlane?: Proc;
  readonly agents = new Map<string, Proc>();
  private apiClient?: ClusterApiClient;
  private portBase = 20_000 + Math.floor(Math.random() * 300) * 100;

  private constructor(readonly dir: string, readonly etcd: EtcdServer, readonly server: string) {}

  /** etcd and one control plane (extra flags in `cpArgs`) under `dir` (which the caller owns). */
  static async start(dir: string, opts: { cpArgs?: string[]; cpNodeArgs?: string[] } = {}): Promise<Kit> {
    const etcd = await startEtcd(path.join(dir, 'etcd'), { log: path.join(dir, 'etcd.log') });
    onCleanup(() => etcd.stop());
    const kit = new Kit(dir, etcd, `127.0.0.1:${await freePort()}`);
    onCleanup(() => kit.apiClient?.close());
    await kit.startControlPlane(opts.cpArgs ?? [], opts.cpNodeArgs ?? []);
    return kit;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CLUSTER_HOME: path.join(this.dir, 'home'), CLUSTER_SERVER: this.server, NO_COLOR: '1' };
  }

  spawnDaemon(name: string, args: string[], nodeArgs: string[] = [], entry = CLI): Proc {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [...nodeArgs, entry, ...args], { stdio: ['ignore', fd, fd], env: this.env });
    fs.closeSync(fd);
    return new Proc(name, child, log);
  }

  async startControlPlane(args: string[] = [], nodeArgs: string[] = []): Promise<Proc> {
    const cp = this.spawnDaemon('control-plane', [
      'control-plane', 'start', '--etcd', this.etcd.url, '--listen', this.server, '--data-dir', path.join(this.dir, 'control-plane'), ...args,
    ], nodeArgs);
    this.controlPlane = cp;
    await waitUntil('the control plane to answer', async () => {
      if (!cp.running) throw new Error(`control plane exited; see ${cp.log}`);
      await callUnary(this.api, 'ListApps', {}, 1_000);
      return true;
    }, 30_000, 50);
    return cp;
  }

  get api(): ClusterApiClient {
    this.apiClient ??= new (apiProto().ClusterApi)(this.server, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    return this.apiClient;
  }

  /** Starts an agent daemon; `wait` (default) waits until it is registered. */
  async startAgent(id: string, opts: AgentOptions = {}, wait = true): Promise<Proc> {
    const base = this.portBase;
    this.portBase += 500;
    const args = [
      'agent', 'start', '--server', this.server, '--name', id, '--data-dir', this.agentDir(id), '--listen', '127.0.0.1:0',
      '--ports', `${base}-${base + 499}`, '--stop-grace', String(opts.stopGrace ?? 5), '--datacenter', opts.datacenter ?? 'dc-1',
    ];
    for (const [k, v] of Object.entries(opts.labels ?? {})) args.push('--label', `${k}=${v}`);
    if (opts.capacity) args.push('--capacity', String(opts.capacity));
    const agent = this.spawnDaemon(id, args, opts.nodeArgs, opts.entry);
    this.agents.set(id, agent);
    if (wait) await this.waitForAgent(id);
    return agent;
  }

  async waitForAgent(id: string): Promise<void> {
    const agent = this.agents.get(id)!;
    await waitUntil(`agent ${id} to register`, async () => {
      if (!agent.running) throw new Error(`agent exited; see ${agent.log}`);
      const res = await callUnary(this.api, 'ListAgents', {});
      return res.agents.some((a) => a.id === id && a.state === 'ready');
    }, 30_000, 50);
  }

  agentDir(id: string): string {
    return path.join(this.dir, 'agents', id);
  }

  /** Creates `app` and deploys a directory holding `procfile` (and any `files`). */
  async deploy(app: string, procfile: string, files: Record<string, string> = {}): Promise<void> {
    const src = path.join(this.dir, 'src', app);
    fs.mkdirSync(src, { recursive: true });
    fs.writeFileSync(path.join(src, 'Procfile'), procfile);
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(src, name), text, { mode: 0o755 });
    await callUnary(this.api, 'CreateApp', { name: app }).catch((err: grpc.ServiceError) => {
      if (err.code !== grpc.status.ALREADY_EXISTS) throw err;
    });
    await deployDirectory(this.api, app, src, { quiet: true });
  }

  async scale(app: string, counts: Record<string, number>): Promise<void> {
    await callUnary(this.api, 'Scale', { app, changes: Object.entries(counts).map(([type, count]) => ({ type, count })) });
  }

  async ps(app: string): Promise<InstanceInfo__Output[]> {
    return (await callUnary(this.api, 'Ps', { app }, 30_000)).instances;
  }

  /** Waits until `count` instances of `app` (of `type` when given) are up; returns when. */
  async waitUp(app: string, count: number, timeoutMs: number, type?: string, everyMs = 20): Promise<number> {
    return waitUntil(`${count} instances of ${app} up`, async () => {
      const up = (await this.ps(app)).filter((i) => i.state === 'up' && (!type || i.type === type));
      return up.length >= count;
    }, timeoutMs, everyMs);
  }

  /** Runs the CLI like a user (never throws on a non-zero exit); wall time in ms. */
  cli(args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
    const start = process.hrtime.bigint();
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: this.env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr, ms });
      });
    });
  }

  async stopAll(): Promise<void> {
    // SIGUSR2: agents stop their instances (SIGTERM would hand them over to a next agent run).
    await Promise.all([...this.agents.values()].map((a) => a.stop('SIGUSR2')));
    await this.controlPlane?.stop('SIGKILL');
    await this.etcd.stop();
  }
}
