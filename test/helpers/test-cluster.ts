/**
 * A real cluster for end-to-end tests: a private etcd, control-plane and agent daemons
 * started from the built `cluster` binary as child processes, and a way to run the CLI
 * against them as a user would.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEtcd, type EtcdServer } from '../../lib/etcd-server';
import { freePort } from '../../lib/free-port';
import { waitFor } from './wait-for';

export const CLI = path.resolve(__dirname, '..', '..', 'cli', 'main.js');
export const REPO = path.resolve(__dirname, '..', '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PsInstance {
  name: string;
  type: string;
  state: string;
  host: string | null;
  pid: number | null;
  restarts: number;
  startedAt: string | null;
  command: string;
  reason: string;
}

export class Daemon {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess, readonly log: string) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
}

export interface AgentSpec {
  id: string;
  datacenter?: string;
  labels?: Record<string, string>;
  capacity?: number;
  listen?: string;
  /** The address the agent announces (to simulate one the control plane cannot reach). */
  advertise?: string;
  /** How many ports the agent may hand out (one per instance); default 100. */
  ports?: number;
  /** More `agent start` flags. */
  args?: string[];
  /** `--server` (default: the first control plane). */
  server?: string;
  /** Another build's CLI entry point (an upgrade); default: this build's. */
  cli?: string;
  /** Instead of `agent start`, e.g. `['agent', 'join', '--token', T]`. */
  command?: string[];
}

export class TestCluster {
  readonly controlPlanes: Daemon[] = [];
  readonly agents = new Map<string, Daemon>();
  private nextPortBase = 20000 + Math.floor(Math.random() * 100) * 100;

  private constructor(readonly dir: string, readonly etcd: EtcdServer, public server: string, readonly agentTtl: number) {}

  /** The address of each control plane started, in order. */
  readonly servers: string[] = [];
  /** More `control-plane start` flags for every replica (e.g. `--tls`). */
  controlPlaneArgs: string[] = [];

  /** etcd (`etcdMembers`, default 1) + `replicas` control planes (default 1) + the given agents, all registered. */
  static async start(opts: { agents?: AgentSpec[]; agentTtl?: number; replicas?: number; controlPlaneArgs?: string[]; etcdMembers?: number } = {}): Promise<TestCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-e2e-'));
    const etcd = await startEtcd(path.join(dir, 'etcd'), { log: path.join(dir, 'etcd.log'), members: opts.etcdMembers });
    const cluster = new TestCluster(dir, etcd, `127.0.0.1:${await freePort()}`, opts.agentTtl ?? 2);
    cluster.controlPlaneArgs = opts.controlPlaneArgs ?? [];
    try {
      await cluster.startControlPlane();
      for (let i = 1; i < (opts.replicas ?? 1); i++) await cluster.startControlPlane(`127.0.0.1:${await freePort()}`);
      for (const spec of opts.agents ?? []) cluster.startAgent(spec);
      await cluster.waitForAgents((opts.agents ?? []).length);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  private spawnDaemon(name: string, args: string[], cli = CLI): Daemon {
    const log = path.join(this.dir, `${name}.log`);
    const fd = fs.openSync(log, 'a');
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, CLUSTER_HOME: path.join(this.dir, 'home'), CLUSTER_LOG_LEVEL: 'debug' },
    });
    fs.closeSync(fd);
    return new Daemon(name, child, log);
  }

  /** The data dir (slugs) of the replica on `listen`: one per address, kept across its restarts. */
  controlPlaneDataDir(listen = this.server): string {
    return path.join(this.dir, `control-plane-${listen.replace(/[^0-9a-z]+/gi, '-')}`);
  }

  /**
   * Starts a control-plane replica on `this.server` (or a new address) and waits until it
   * answers. With `extraArgs` (e.g. another `--prefix`: another cluster) it is not counted
   * in `servers`.
   */
  async startControlPlane(listen = this.server, extraArgs: string[] = []): Promise<Daemon> {
    const daemon = this.spawnDaemon(`control-plane-${this.controlPlanes.length + 1}`, [
      'control-plane', 'start',
      '--etcd', this.etcd.urls.join(','),
      '--listen', listen,
      '--data-dir', this.controlPlaneDataDir(listen),
      '--agent-ttl', String(this.agentTtl),
      ...this.controlPlaneArgs,
      ...extraArgs,
    ]);
    this.controlPlanes.push(daemon);
    if (!this.servers.includes(listen) && extraArgs.length === 0) this.servers.push(listen);
    await waitFor(`control plane on ${listen} to answer`, async () => {
      if (!daemon.running) throw new Error(`control plane exited; see ${daemon.log}`);
      return (await this.cli(['apps', '--json'], { server: listen })).code === 0;
    }, 15_000, 100);
    return daemon;
  }

  startAgent(spec: AgentSpec): Daemon {
    const base = this.nextPortBase;
    const ports = spec.ports ?? 100;
    this.nextPortBase += Math.ceil(ports / 100) * 100;
    const args = [
      ...(spec.command ?? ['agent', 'start']),
      '--server', spec.server ?? this.server,
      '--name', spec.id,
      '--data-dir', path.join(this.dir, spec.id),
      '--datacenter', spec.datacenter ?? 'dc-1',
      '--ports', `${base}-${base + ports - 1}`,
      '--listen', spec.listen ?? '127.0.0.1:0',
      '--stop-grace', '5',
    ];
    for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    if (spec.capacity) args.push('--capacity', String(spec.capacity));
    if (spec.advertise) args.push('--advertise', spec.advertise);
    args.push(...(spec.args ?? []));
    const daemon = this.spawnDaemon(spec.id, args, spec.cli);
    this.agents.set(spec.id, daemon);
    return daemon;
  }

  async waitForAgents(count: number): Promise<void> {
    await waitFor(`${count} agents registered`, async () => {
      const res = await this.cliJson<{ agents: unknown[] }>(['agents']);
      return res.agents.length === count;
    }, 20_000, 100);
  }

  /** Runs the `cluster` binary; never throws on a non-zero exit. */
  cli(args: string[], opts: { server?: string; input?: string; timeoutMs?: number; home?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, ...args],
        {
          env: { ...process.env, CLUSTER_HOME: opts.home ?? path.join(this.dir, 'home'), CLUSTER_SERVER: opts.server ?? this.server, NO_COLOR: '1' },
          timeout: opts.timeoutMs ?? 60_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (opts.input !== undefined) child.stdin?.end(opts.input);
    });
  }

  /** Runs a `--json` command and parses its output; throws with stderr when it fails. */
  async cliJson<T>(args: string[]): Promise<T> {
    const res = await this.cli([...args, '--json']);
    if (res.code !== 0) throw new Error(`cluster ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
    return JSON.parse(res.stdout) as T;
  }

  /** Like cli(), but fails the test when the command fails. */
  async ok(args: string[]): Promise<CliResult> {
    const res = await this.cli(args);
    if (res.code !== 0) throw new Error(`cluster ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
    return res;
  }

  async ps(app: string): Promise<PsInstance[]> {
    return (await this.cliJson<{ instances: PsInstance[] }>(['ps', '-a', app])).instances;
  }

  /** Polls `ps` until `check` accepts the instances; returns them. */
  async waitForPs(app: string, what: string, check: (instances: PsInstance[]) => boolean, timeoutMs = 20_000): Promise<PsInstance[]> {
    let last: PsInstance[] = [];
    try {
      return await waitFor(what, async () => {
        last = await this.ps(app);
        return check(last) ? last : undefined;
      }, timeoutMs, 100);
    } catch (err) {
      const summary = last.map((i) => `${i.name}:${i.state}@${i.host ?? '-'}`).join(' ');
      throw new Error(`${(err as Error).message}\nlast ps: ${summary}`);
    }
  }

  /** Creates an app and deploys a directory to it. */
  async deployApp(app: string, dir: string): Promise<void> {
    await this.ok(['apps:create', app]);
    await this.ok(['deploy', dir, '-a', app]);
  }

  /** Writes an app directory with the given files under the test's temp dir. */
  appDir(name: string, files: Record<string, string>): string {
    const dir = path.join(this.dir, 'apps', name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), content);
    return dir;
  }

  /** Kills every daemon and etcd, and removes the temp dir (keeps it when KEEP_TEST_DIRS is set). */
  async stop(): Promise<void> {
    // SIGUSR2: the agents stop their instances (SIGTERM would hand them over to a next agent run).
    await Promise.all([...this.agents.values()].map((d) => d.kill('SIGUSR2').catch(() => undefined)));
    await Promise.all(this.controlPlanes.map((d) => d.kill('SIGKILL')));
    await this.etcd.stop();
    if (!process.env.KEEP_TEST_DIRS) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Live processes whose command line or working directory contains `marker` (to find app processes). */
export function pidsMatching(marker: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue; // zombies are dead
      let cwd = '';
      try {
        cwd = fs.readlinkSync(`/proc/${entry}/cwd`);
      } catch {
        // not ours to read
      }
      if (cmdline.includes(marker) || cwd.includes(marker)) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}
