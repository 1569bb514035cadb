/**
 * A real cluster for end-to-end tests and benchmarks: a private etcd, control-plane and
 * agent daemons started from the built `cluster` binary as child processes, a way to run the
 * CLI against them as a user would, and a gRPC client of the cluster API for calls that must
 * not pay a CLI start each time (benchmarks' timings). Benchmarks start it through
 * bench/lib/bench-cluster.ts (daemons at their default log level and agent TTL).
 *
 * The parts it is built of, each in its own file: running the binary (cluster-binary.ts), the
 * daemons (daemon.ts), its options (test-cluster-options.ts), `ps` and waiting on it
 * (ps-instances.ts), app directories (app-sources.ts). What tests import from here before the
 * split is re-exported below.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../../lib/etcd-cluster';
import { freePort } from '../../lib/free-port';
import { callUnary } from '../../lib/grpc-call';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { InstanceInfo__Output } from '../../proto/gen/cluster/api/InstanceInfo';
import { apiClient, isCurrent } from './api';
import { deployProcfileThroughApi, writeAppDir } from './app-sources';
import { CLI, clusterCommand, runCli, type CliResult } from './cluster-binary';
import { Daemon, logTail, spawnDaemon } from './daemon';
import { psFromApi, psFromCli, waitForPsState, type PsInstance } from './ps-instances';
import { etcdFlag, serverFlag, type AgentSpec, type Replica, type TestClusterOptions } from './test-cluster-options';
import { waitFor } from './wait-for';

export { CLI, REPO, type CliResult } from './cluster-binary';
export { Daemon } from './daemon';
export { pidsMatching } from './processes';
export type { PsInstance } from './ps-instances';
export { etcdFlag, serverFlag, type AgentSpec, type Replica, type TestClusterOptions } from './test-cluster-options';

export class TestCluster {
  readonly controlPlanes: Daemon[] = [];
  /** The latest replica started on each address, in the order the addresses were first used. */
  readonly replicas: Replica[] = [];
  readonly agents = new Map<string, Daemon>();
  private readonly agentSpecs = new Map<string, AgentSpec>();
  private readonly agentPorts = new Map<string, number>();
  private nextPortBase = 20000 + Math.floor(Math.random() * 200) * 100;
  private readonly apiClients = new Map<string, ClusterApiClient>();
  private ownsDir = true;
  private logLevel = 'debug';
  private controlPlaneNodeArgs: string[] = [];

  private constructor(
    readonly dir: string,
    readonly etcd: EtcdCluster,
    public server: string,
    readonly agentTtl: number,
    readonly network?: TestClusterOptions['network'],
    private readonly replicaAddresses: string[] = server.split(','),
  ) {}

  /** More `control-plane start` flags for every replica (e.g. `--tls`). */
  controlPlaneArgs: string[] = [];

  /** etcd + control-plane replicas + the given agents, all registered. */
  static async start(opts: TestClusterOptions = {}): Promise<TestCluster> {
    if (opts.dir) fs.mkdirSync(opts.dir, { recursive: true });
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-e2e-'));
    const cpHost = opts.network && opts.network.net.host(opts.network.controlPlaneHost);
    const etcd = await EtcdCluster.start(path.join(dir, 'etcd'), {
      members: opts.etcdMembers ?? 1,
      logDir: dir,
      exec: cpHost && opts.network!.net.execPrefix(cpHost.name),
    });
    const addresses: string[] = [];
    for (let i = 0; i < (opts.replicas ?? 1); i++) addresses.push(cpHost ? `${cpHost.address}:${7600 + i}` : `127.0.0.1:${await freePort()}`);
    const cluster = new TestCluster(dir, etcd, serverFlag(addresses), opts.agentTtl ?? 2, opts.network, addresses);
    cluster.controlPlaneArgs = opts.controlPlaneArgs ?? [];
    cluster.ownsDir = !opts.dir;
    cluster.logLevel = opts.logLevel ?? 'debug';
    cluster.controlPlaneNodeArgs = opts.controlPlaneNodeArgs ?? [];
    try {
      // One replica first, so that it creates the CA and the others find it.
      await cluster.startControlPlane(addresses[0]);
      await Promise.all(addresses.slice(1).map((a) => cluster.startControlPlane(a)));
      for (const spec of opts.agents ?? []) cluster.startAgent(spec);
      await cluster.waitForAgents((opts.agents ?? []).length);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** `[command, args]` that run the `cluster` binary on a host (here when none is given). */
  private command(args: string[], host?: string, cli = CLI, nodeArgs: string[] = []): [string, string[]] {
    return clusterCommand(args, host && this.network ? this.network.net.execPrefix(host) : [], cli, nodeArgs);
  }

  private get controlPlaneHost(): string | undefined {
    return this.network?.controlPlaneHost;
  }

  /** The environment of the CLI as a user of this cluster would have it. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CLUSTER_HOME: path.join(this.dir, 'home'), CLUSTER_SERVER: this.server, NO_COLOR: '1' };
  }

  private spawnDaemon(name: string, args: string[], host?: string, cli = CLI, nodeArgs: string[] = []): Daemon {
    return spawnDaemon(name, this.command(args, host, cli, nodeArgs), path.join(this.dir, `${name}.log`), {
      ...process.env,
      CLUSTER_HOME: path.join(this.dir, 'home'),
      CLUSTER_LOG_LEVEL: this.logLevel,
    });
  }

  /** Every replica address given at start, in order (agents and the CLI get them through serverFlag). */
  get addresses(): string[] {
    return this.replicaAddresses;
  }

  /** The address of every replica of this cluster started so far, in the order first started. */
  get servers(): string[] {
    return this.replicas.map((r) => r.address);
  }

  /** The data dir (slugs) of the replica on `listen`: one per address, kept across its restarts. */
  controlPlaneDataDir(listen = this.addresses[0]!): string {
    return path.join(this.dir, `control-plane-${listen.replace(/[^0-9a-z]+/gi, '-')}`);
  }

  /**
   * Starts a control-plane replica on `listen` (default: the first address) and waits until it
   * answers. A replica started again on an address keeps that address's data dir. With
   * `extraArgs` (e.g. another `--prefix`: another cluster) it is not one of `replicas`.
   */
  async startControlPlane(listen = this.addresses[0]!, extraArgs: string[] = []): Promise<Daemon> {
    const dataDir = this.controlPlaneDataDir(listen);
    const daemon = this.spawnDaemon(`control-plane-${this.controlPlanes.length + 1}`, [
      'control-plane', 'start',
      '--etcd', etcdFlag(this.etcd.urls),
      '--listen', listen,
      '--data-dir', dataDir,
      '--agent-ttl', String(this.agentTtl),
      // Off loopback the control plane wants TLS and joined agents; the test hosts are private.
      ...(this.network ? ['--insecure'] : []),
      ...this.controlPlaneArgs,
      ...extraArgs,
    ], this.controlPlaneHost, CLI, this.controlPlaneNodeArgs);
    this.controlPlanes.push(daemon);
    if (extraArgs.length === 0) {
      const replica = { address: listen, daemon, dataDir };
      const at = this.replicas.findIndex((r) => r.address === listen);
      if (at === -1) this.replicas.push(replica);
      else this.replicas[at] = replica;
    }
    // Through the API when it can (a CLI start per poll costs ~0.5 s of CPU), else the CLI. Up to
    // 30 s, as for an agent: replicas and etcd starting together while other files' clusters run.
    const plaintext = !this.network && ![...this.controlPlaneArgs, ...extraArgs].includes('--tls');
    const api = plaintext ? apiClient(listen) : undefined;
    try {
      await waitFor(`control plane on ${listen} to answer`, async () => {
        if (!daemon.running) throw new Error(`control plane exited; see ${daemon.log}`);
        if (api) return isCurrent(await callUnary(api, 'ListApps', {}, 2_000));
        return (await this.cli(['apps', '--json'], { server: listen })).code === 0;
      }, { timeoutMs: 30_000, intervalMs: 100, describe: () => `its log ends with:\n${logTail(daemon.log)}` });
    } finally {
      api?.close();
    }
    return daemon;
  }

  /** The control plane started last (the only one of a one-replica cluster). */
  get controlPlane(): Daemon | undefined {
    return this.controlPlanes[this.controlPlanes.length - 1];
  }

  /** The replica that holds the leader key in etcd (it schedules), if one does. */
  async leader(): Promise<Replica | undefined> {
    const client = new Etcd3({ hosts: this.etcd.members.filter((m) => m.running).map((m) => m.url), dialTimeout: 1_000 });
    try {
      // The value is `${hostname}-${pid}-${address}` (control-plane/control-plane.ts).
      const id = await client.get('/cluster/leader').options({ deadline: Date.now() + 2_000 }).string();
      if (!id) return undefined;
      return this.replicas.find((r) => r.daemon.running && id.endsWith(`-${r.daemon.pid}-${r.address}`));
    } finally {
      client.close();
    }
  }

  /** The replica addresses whose daemons are alive. */
  liveAddresses(): string[] {
    return this.replicas.filter((r) => r.daemon.running).map((r) => r.address);
  }

  /** Starts an agent (again, with the same flags and data dir, when `spec.id` ran before). */
  startAgent(spec: AgentSpec): Daemon {
    // Every instance takes a port: an agent meant to hold more than 100 needs a wider range.
    const ports = spec.ports ?? Math.min(Math.max(100, spec.capacity ?? 0), 1_000);
    const base = this.agentPorts.get(spec.id) ?? this.nextPortBase;
    if (!this.agentPorts.has(spec.id)) this.nextPortBase += Math.ceil(ports / 100) * 100;
    this.agentPorts.set(spec.id, base);
    this.agentSpecs.set(spec.id, spec);
    const args = [
      ...(spec.command ?? ['agent', 'start']),
      '--server', spec.server ?? this.server,
      '--name', spec.id,
      '--data-dir', this.agentDir(spec.id),
      '--datacenter', spec.datacenter ?? 'dc-1',
      '--ports', `${base}-${base + ports - 1}`,
      '--listen', spec.listen ?? `${spec.host && this.network ? this.network.net.host(spec.host).address : '127.0.0.1'}:0`,
      '--stop-grace', String(spec.stopGrace ?? 5),
    ];
    for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    if (spec.capacity) args.push('--capacity', String(spec.capacity));
    if (spec.advertise) args.push('--advertise', spec.advertise);
    args.push(...(spec.args ?? []));
    const daemon = this.spawnDaemon(spec.id, args, spec.host, spec.cli, spec.nodeArgs);
    this.agents.set(spec.id, daemon);
    return daemon;
  }

  /** The data dir of agent `id`. */
  agentDir(id: string): string {
    return path.join(this.dir, id);
  }

  /** Starts an agent and waits until it is registered and ready. */
  async startReadyAgent(spec: AgentSpec): Promise<Daemon> {
    const daemon = this.startAgent(spec);
    await this.waitForAgent(spec.id);
    return daemon;
  }

  /** Waits until agent `id` is registered and ready (asked through the API: no CLI start per poll). */
  async waitForAgent(id: string, timeoutMs = 30_000): Promise<void> {
    const agent = this.agents.get(id);
    if (!agent) throw new Error(`no agent ${id} was started`);
    await waitFor(`agent ${id} to be ready`, async () => {
      if (!agent.running) throw new Error(`agent ${id} exited; see ${agent.log}`);
      const res = await callUnary(this.api, 'ListAgents', {}, 5_000);
      return res.agents.some((a) => a.id === id && a.state === 'ready');
    }, timeoutMs, 50);
  }

  /** Starts a stopped or killed agent again with its original flags. */
  restartAgent(id: string): Daemon {
    const spec = this.agentSpecs.get(id);
    if (!spec) throw new Error(`no agent ${id} was started`);
    if (this.agents.get(id)?.running) throw new Error(`agent ${id} is still running`);
    return this.startAgent(spec);
  }

  /** Starts the cluster's agents `ids`, each given every replica (`--server A,B…`), and waits until they are registered. */
  async startAgentsOnEveryReplica(ids: string[]): Promise<void> {
    for (const id of ids) this.startAgent({ id, server: this.servers.join(',') });
    await this.waitForAgents(ids.length);
  }

  /** Waits until exactly `count` agents are registered (ready or draining; those gone are listed too). */
  async waitForAgents(count: number): Promise<void> {
    const registered = (agents: Array<{ state: string }>) => agents.filter((a) => a.state === 'ready' || a.state === 'draining').length;
    await waitFor(`${count} agents registered`, async () => {
      // Ask one live replica: whether the CLI fails over is not the question here.
      const server = this.liveAddresses()[0] ?? this.server;
      if (this.apiReachable) {
        const reply = await callUnary(this.apiAt(server), 'ListAgents', {}, 10_000);
        return isCurrent(reply) && registered(reply.agents) === count;
      }
      const res = await this.cli(['agents', '--json'], { server });
      if (res.code !== 0) throw new Error(`cluster agents failed (${res.code}): ${res.stderr}`);
      return registered((JSON.parse(res.stdout) as { agents: Array<{ state: string }> }).agents) === count;
    }, 20_000, 100);
  }

  /** Runs the `cluster` binary (`env`: more variables, `CLUSTER_APP`…); never throws on a non-zero exit. */
  cli(args: string[], opts: { server?: string; input?: string; timeoutMs?: number; home?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Required<CliResult>> {
    return runCli(this.command(args, this.controlPlaneHost), {
      ...process.env,
      CLUSTER_HOME: opts.home ?? path.join(this.dir, 'home'),
      CLUSTER_SERVER: opts.server ?? this.server,
      NO_COLOR: '1',
      ...opts.env,
    }, opts);
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

  /**
   * What `cluster ps -a APP --json` lists (the same fields; a stale view throws): through the API
   * when polls may go there, else through the CLI. Tests of `ps`'s own output run the CLI.
   */
  async ps(app: string): Promise<PsInstance[]> {
    return this.pollsThroughApi ? this.psAt(app, this.server) : psFromCli(await this.cli(['ps', '-a', app, '--json']));
  }

  /**
   * Whether this process can call the replicas' API itself (plaintext, on this machine's
   * loopback) instead of starting the CLI, which costs ~0.5 s of CPU a call.
   */
  private get apiReachable(): boolean {
    return !this.network && !this.controlPlaneArgs.includes('--tls');
  }

  /**
   * Whether polls may go through the API: reachable, and the CLI given one replica (`server`,
   * which a test may point elsewhere); with several, the CLI's failover is kept.
   */
  private get pollsThroughApi(): boolean {
    return this.apiReachable && !this.server.includes(',');
  }

  /**
   * What `cluster ps -a APP --json` lists when asked of the replica `server` (the same fields, the
   * same failure on a stale view), through the API when it can, else through the CLI.
   */
  async psAt(app: string, server: string): Promise<PsInstance[]> {
    if (!this.apiReachable) return psFromCli(await this.cli(['ps', '-a', app, '--json'], { server, timeoutMs: 20_000 }));
    return psFromApi(this.apiAt(server), app);
  }

  /** Polls `ps` until `check` accepts the instances; returns them. */
  async waitForPs(app: string, what: string, check: (instances: PsInstance[]) => boolean, timeoutMs = 20_000): Promise<PsInstance[]> {
    return waitForPsState(() => this.ps(app), what, check, timeoutMs);
  }

  /** Creates an app and deploys a directory to it. */
  async deployApp(app: string, dir: string): Promise<void> {
    await this.ok(['apps:create', app]);
    await this.ok(['deploy', dir, '-a', app]);
  }

  /** Writes an app directory with the given files under the test's temp dir. */
  appDir(name: string, files: Record<string, string | Uint8Array>): string {
    return writeAppDir(this.dir, name, files);
  }

  /** A gRPC client of the cluster API on the first address (plaintext clusters), closed at stop(). */
  get api(): ClusterApiClient {
    return this.apiAt(this.addresses[0]!);
  }

  /** A gRPC client of the replica on `address` (plaintext clusters), kept until stop(). */
  apiAt(address: string): ClusterApiClient {
    let client = this.apiClients.get(address);
    if (!client) this.apiClients.set(address, (client = apiClient(address)));
    return client;
  }

  /** Creates `app` if need be and deploys a directory holding `procfile` and `files`, through the API. */
  async deployProcfile(app: string, procfile: string, files: Record<string, string> = {}): Promise<void> {
    await deployProcfileThroughApi(this.api, this.dir, app, procfile, files);
  }

  /** Sets process counts through the API. */
  async scale(app: string, counts: Record<string, number>): Promise<void> {
    await callUnary(this.api, 'Scale', { app, changes: Object.entries(counts).map(([type, count]) => ({ type, count })) });
  }

  /** The instances of `app`, through the API (what `ps` shows, without a CLI start). */
  async instances(app: string): Promise<InstanceInfo__Output[]> {
    return (await callUnary(this.api, 'Ps', { app }, 30_000)).instances;
  }

  /** Waits until `count` instances of `app` (of `type` when given) are up; resolves to when (Date.now()). */
  async waitUp(app: string, count: number, timeoutMs: number, type?: string, intervalMs = 20): Promise<number> {
    await waitFor(`${count} instances of ${app}${type ? ` (${type})` : ''} up`, async () => {
      const up = (await this.instances(app)).filter((i) => i.state === 'up' && (!type || i.type === type));
      return up.length >= count;
    }, timeoutMs, intervalMs);
    return Date.now();
  }

  /**
   * Kills every daemon and etcd, and removes the temp dir (keeps it when KEEP_TEST_DIRS is set,
   * or when the caller gave the dir).
   */
  async stop(): Promise<void> {
    for (const client of this.apiClients.values()) client.close();
    this.apiClients.clear();
    // SIGUSR2: the agents stop their instances (SIGTERM would hand them over to a next agent run).
    await Promise.all([...this.agents.values()].map((d) => d.kill('SIGUSR2').catch(() => undefined)));
    await Promise.all(this.controlPlanes.map((d) => d.kill('SIGKILL')));
    await this.etcd.stop().catch(() => undefined);
    if (this.ownsDir && !process.env.KEEP_TEST_DIRS) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
