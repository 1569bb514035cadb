/** The JSON the control plane sends (the cluster API's own replies: proto/api.proto). */

export interface Staleness {
  stale_ms: number;
  reason: string;
}

export interface AppSummary {
  name: string;
  /** The newest release. */
  release: number;
  /** The release the instances run (0 before one went live). */
  running: number;
  /** The newest release's phase (and why it failed) when it is not the running one; '' otherwise. */
  newestPhase: string;
  newestPhaseReason: string;
  formation: Array<{ type: string; count: number }>;
  up: number;
  desired: number;
  stale?: Staleness | null;
}

export interface Instance {
  name: string;
  type: string;
  state: string;
  host: string;
  pid: number;
  restarts: number;
  started_at_ms: number;
  command: string;
  reason: string;
  release: number;
  port: number;
  /** Present when the control plane reports resource use (otherwise shown as `-`). */
  cpu_percent?: number | null;
  rss_bytes?: number | string | null;
}

export interface Ps {
  app: string;
  instances: Instance[];
  formation: Array<{ type: string; count: number }>;
  process_types: string[];
  stale?: Staleness | null;
}

export interface Release {
  version: number;
  description: string;
  created_at_ms: number;
  slug: string;
  phase: string;
  phase_reason: string;
  deployed: boolean;
}

export interface AppView {
  ps: Ps;
  releases: Release[];
}

export interface Agent {
  id: string;
  address: string;
  datacenter: string;
  labels: Record<string, string>;
  state: string;
  instances: number;
  /** One-off processes it runs or is starting (an older control plane does not say). */
  one_offs?: number;
  capacity: number;
  version: string;
  heartbeat_age_ms: number;
  web: boolean;
  /** Drained, in any state (an older control plane does not say). */
  drained?: boolean;
}

export interface Agents {
  agents: Agent[];
  stale?: Staleness | null;
}

export interface LogLine {
  t: number;
  /** Orders one instance's lines on its agent: with host, instance and t, it names one line. */
  seq: number;
  instance: string;
  stream: string;
  host: string;
  text: string;
}
