/**
 * What a TestCluster (test/helpers/test-cluster.ts) is started with: its options, an agent's
 * spec, a replica's record, and the spelling of the `--etcd` and `--server` flags it passes on.
 */
import type { Daemon } from './daemon';
import type { TestNetwork } from './netns';

export interface AgentSpec {
  id: string;
  datacenter?: string;
  labels?: Record<string, string>;
  capacity?: number;
  listen?: string;
  /** The address the agent announces (to simulate one the control plane cannot reach). */
  advertise?: string;
  /** How many ports the agent may hand out (one per instance); default 100, or its capacity up to 1,000. */
  ports?: number;
  /** More `agent start` flags. */
  args?: string[];
  /** `--server` (default: the first control plane). */
  server?: string;
  /** Another build's CLI entry point (an upgrade); default: this build's. */
  cli?: string;
  /** Instead of `agent start`, e.g. `['agent', 'join', '--token', T]`. */
  command?: string[];
  /** The network-namespace host to run on (with TestClusterOptions.network). */
  host?: string;
  /** Node flags for the agent's process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** `--stop-grace` seconds (default 5). */
  stopGrace?: number;
}

/** The `--etcd` value for a control plane: every endpoint, comma-separated. */
export function etcdFlag(urls: string[]): string {
  return urls.join(',');
}

/**
 * The `--server` value for agents and the CLI: every replica, comma-separated (the
 * interface of issue 9; keep its spelling here only, so a change is one line).
 */
export function serverFlag(addresses: string[]): string {
  // TEST_FIRST_REPLICA_ONLY=1 gives clients only the first replica: a way to exercise the
  // rest of a multi-replica test on a build whose clients take one address.
  if (process.env.TEST_FIRST_REPLICA_ONLY === '1') return addresses[0]!;
  return addresses.join(',');
}

/** A control-plane replica: its address, its process, its own data dir (slugs). */
export interface Replica {
  address: string;
  daemon: Daemon;
  dataDir: string;
}

export interface TestClusterOptions {
  agents?: AgentSpec[];
  /** `--agent-ttl` seconds (default 2: tests see an agent down quickly). */
  agentTtl?: number;
  /** A directory the caller owns (kept at stop()); default a fresh temp dir, removed at stop(). */
  dir?: string;
  /** CLUSTER_LOG_LEVEL of the daemons (default `debug`; benchmarks use `info`, the daemons' default). */
  logLevel?: string;
  /** Node flags for the control planes' processes (e.g. `--cpu-prof`). */
  controlPlaneNodeArgs?: string[];
  /** etcd members (default 1); the control planes get every endpoint. */
  etcdMembers?: number;
  /** Control-plane replicas (default 1), each on its own address and data dir. */
  replicas?: number;
  /**
   * Hosts as network namespaces: etcd, the control planes and the CLI run on
   * `controlPlaneHost` (plaintext: `--insecure`), agents on their spec's `host`.
   */
  network?: { net: TestNetwork; controlPlaneHost: string };
  /** More `control-plane start` flags for every replica (e.g. `--tls`). */
  controlPlaneArgs?: string[];
}
