/** The values stored in etcd, with decoders that never throw on a malformed value. */

export interface AppRecord {
  name: string;
  createdAtMs: number;
  /** Newest release version; 0 before the first deploy. */
  release: number;
  /**
   * The release instances run: the newest whose release phase passed (or that has none).
   * Absent in records written before release phases: `release`. docs/boot-checks.md#release-phase.
   */
  deployed?: number;
}

/** The release phase of a release whose Procfile has a `release:` command. */
export interface ReleasePhaseRecord {
  command: string;
  timeoutMs: number;
  /**
   * pending: not claimed yet; running: claimed by a leader on `agentId` (maybe not started yet);
   * superseded: a newer release was made before this one could go live (before its command ran
   * or was known to have started, or while it ran and it then passed), so it never goes live.
   */
  state: 'pending' | 'running' | 'succeeded' | 'failed' | 'superseded';
  agentId?: string;
  startedAtMs?: number;
  /**
   * Chosen by the leader that claims it, unique: the agent knows the run by it (RunStart.run_id),
   * since the name release.N comes back when the app is destroyed and created again. Unset when
   * claimed by a leader of an older version (the run is then known by name alone).
   */
  runId?: string;
  /**
   * The agent said it started the command: from then on it is only followed, never started again
   * (an agent that restarted meanwhile forgot it, and a second start would run a migration twice).
   */
  started?: boolean;
  finishedAtMs?: number;
  /** Exit status (128 + signal when killed). */
  status?: number;
  /** Why it failed, in words ("exited with status 3", "timed out after 10 s"). */
  reason?: string;
}

export interface ReleaseRecord {
  version: number;
  description: string;
  createdAtMs: number;
  slug: string;
  processTypes: Record<string, string>;
  env: Record<string, string>;
  /** Its release command's run (written by the leader); absent: none, it rolls at once. */
  phase?: ReleasePhaseRecord;
}

export interface FormationRecord {
  counts: Record<string, number>;
  restartTokens: Record<string, string>;
  /** SIGTERM → SIGKILL per process type, in ms; unset types use the agent's default. */
  graceMs?: Record<string, number>;
  /** A port check's boot timeout per process type, in ms (docs/boot-checks.md); unset: web 60 s, others none. */
  bootTimeoutMs?: Record<string, number>;
  /** `ps:logs`: process types whose output never blocks (`non-blocking`); unset types block (docs/logs.md). */
  logModes?: Record<string, 'non-blocking'>;
  /** Where each process type may run (labels an agent must carry, a datacenter); unset types run anywhere. */
  placement?: Record<string, PlacementRecord>;
}

/** A placement rule of one process type. */
export interface PlacementRecord {
  labels: Record<string, string>;
  datacenter?: string;
}

/** Under `drains/<agentId>`: the agent is drained, and what it was when drained (for `agents` once it is gone). */
export interface DrainRecord {
  drainedAtMs: number;
  agent: AgentRecord;
}

/**
 * Under `web/<agentId>`: whether the agent runs `web`. Absent: it does. Written off by the first
 * registration of an agent started with --process-server, then only by `agents:web`
 * (docs/process-servers.md).
 */
export interface WebToggleRecord {
  web: boolean;
  setBy: 'process-server' | 'agents:web';
  setAtMs: number;
}

/**
 * An agent that left its instances to its next run (a planned restart or upgrade): while this
 * key lives (under a lease of `holdMs`), the leader keeps the agent's instances where they are
 * although it is not registered (docs/agent-handover.md, "Restart hold").
 */
export interface RestartHoldRecord {
  holdMs: number;
  /** When the control plane granted it (epoch ms, that replica's clock; shown, never compared). */
  atMs: number;
  /**
   * The etcd mod revision of the registration whose run left (`agents/<id>` as the granting
   * replica saw it): `cluster agents` lists the agent `restarting` while that registration is the
   * current one. Absent from a hold written by an older version.
   */
  registrationRevision?: number;
  /**
   * Where the run that left was registered, and under which lease: the name stays that agent's
   * for the hold (an agent coming back presents that lease), so a second agent given the same
   * --name does not take its instances meanwhile (agents/name-holders.ts). Absent from a hold
   * written by an older version.
   */
  address?: string;
  leaseId?: string;
}

export interface AgentRecord {
  id: string;
  address: string;
  datacenter: string;
  labels: Record<string, string>;
  capacity: number;
  /** How many ports it hands out (its --ports range); absent from an agent of an older version. */
  ports?: number;
  version: string;
  registeredAtMs: number;
  state: 'ready' | 'draining';
}

/** `oneoffs/<agentId>`: how many one-off processes the agent runs (its last status report's `one_offs`). */
export interface OneOffCountRecord {
  oneOffs: number;
}

export type ReportedState = 'starting' | 'up' | 'crashed' | 'stopping';

export interface StatusRecord {
  agentId: string;
  state: ReportedState;
  pid: number;
  startedAtMs: number;
  restarts: number;
  reason: string;
  release: number;
  port: number;
  restartToken: string;
  updatedAtMs: number;
  /** One-off processes only (they have no assignment that names the command). */
  command?: string;
}

/** Parses a stored JSON value; undefined (never an exception) when it is not an object. */
export function decode<T extends object>(raw: Buffer | string | null | undefined): T | undefined {
  if (raw == null) return undefined;
  try {
    const value: unknown = JSON.parse(raw.toString());
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

export function encode(value: object): string {
  return JSON.stringify(value);
}

export const EMPTY_FORMATION: FormationRecord = { counts: {}, restartTokens: {} };
