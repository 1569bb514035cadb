/**
 * What a control-plane replica is started with (`cluster control-plane start` flags, tests), and
 * the defaults and bounds of those that are checked where they are given.
 */
import type { Logger } from '../lib/log';
import type { SlugReplicationOptions } from './slugs/slug-replication';
import { RESTART_HOLD_MARGIN_MS } from '../lib/restart-hold';
import { isLoopbackHost } from '../lib/peer-address';

/**
 * An agent that leaves for its next run (SIGTERM: a restart, an upgrade) keeps its instances this
 * long although its lease may run out meanwhile (docs/agent-handover.md, "The restart hold"): a
 * start slowed by a loaded machine does not move them. One that is not back by then is treated as
 * down: its instances move, later than after a crash (the lease's TTL) by the difference.
 */
export const DEFAULT_RESTART_HOLD_SECONDS = 15;
export const MAX_RESTART_HOLD_SECONDS = 600;
/**
 * A hold must be at least the lease's TTL and this long: the agent's watchdog gets the hold less
 * this margin (lib/restart-hold.ts), and a shorter hold would give it no more than the lease
 * does, without room for its kill grace.
 */
export const RESTART_HOLD_OVER_TTL_SECONDS = RESTART_HOLD_MARGIN_MS / 1000;

export interface ControlPlaneOptions {
  etcd: string[];
  listen: string;
  /**
   * HOST:PORT clients should dial (kept in the replica set). Default: the listen address,
   * or the first non-internal interface address when listening on a wildcard address.
   */
  advertise?: string;
  /** This build's version, shown in the replica set. */
  version?: string;
  /** TTL of this replica's entry in the replica set (seconds; default 5). */
  replicaTtlSeconds?: number;
  dataDir: string;
  prefix?: string;
  /** Seconds without a heartbeat before an agent is declared gone. */
  agentTtlSeconds?: number;
  /** How long an agent leaving for its next run keeps its instances (seconds; 0: none; default DEFAULT_RESTART_HOLD_SECONDS). */
  agentRestartHoldSeconds?: number;
  heartbeatMs?: number;
  /** How long a host stays a log source after its agent was last heard of (seconds; default a day; tests shorten it). */
  logSourceTtlSeconds?: number;
  leaderTtlSeconds?: number;
  maxPerType?: number;
  /**
   * Mutual TLS for every caller. Default: on unless the listener is on loopback (a dev
   * cluster); plaintext off loopback must be asked for with `tls: false`.
   */
  tls?: boolean;
  /**
   * HOST:PORT to serve the web dashboard, its JSON API and /metrics on (docs/dashboard.md):
   * HTTPS signed by the cluster CA when the gRPC API uses TLS, plain HTTP otherwise.
   */
  http?: string;
  /**
   * How long etcd keeps old versions of keys before the leader compacts them (seconds; default
   * 300; leader/compactor.ts).
   */
  etcdHistorySeconds?: number;
  /** Slug sync and garbage collection timing (tests shorten them). */
  slugs?: SlugReplicationOptions;
  /** Where to serve Prometheus metrics (HOST:PORT; docs/metrics.md); none by default. */
  metrics?: string;
  /** The bearer token that opens /metrics on an `http` listener off loopback (`--metrics-token-file`; docs/metrics.md). */
  metricsToken?: string;
  logger: Logger;
}

/** Whether `listen` (host:port) is a loopback address. */
export function isLoopback(listen: string): boolean {
  return isLoopbackHost(listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
}

/** How long etcd keeps old versions of keys by default (ControlPlaneOptions.etcdHistorySeconds). */
export const DEFAULT_ETCD_HISTORY_SECONDS = 300;
