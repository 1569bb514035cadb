/** The scheduler's view of the world: plain data, no etcd, no I/O. */

/** A registered agent, as the scheduler sees it. */
export interface AgentView {
  id: string;
  datacenter: string;
  labels: Record<string, string>;
  /** Slots: how many instances this agent may run at most. */
  capacity: number;
  /**
   * Only `ready` agents receive new instances; `draining` ones keep nothing; `unreachable` ones
   * (registration gone, still within the leader's grace: leader/agent-liveness.ts) keep what
   * they own as it is and receive nothing new.
   */
  state: 'ready' | 'draining' | 'unreachable';
  /**
   * Whether the agent runs `web`; false for a process server whose web is off
   * (docs/process-servers.md). Missing: it does.
   */
  web?: boolean;
}

/**
 * What an instance must run; changes to any field restart the instance. The command and config
 * are not copied here: they belong to the release (every deploy, config change and rollback makes
 * a new one), and agents fetch them once per release. Assignments stay small whatever the app.
 */
export interface InstanceSpec {
  app: string;
  /** Heroku name: `worker.3`. */
  instance: string;
  type: string;
  release: number;
  slug: string;
  restartToken: string;
  graceMs: number;
  /** A port check's boot timeout; 0 or absent: web 60 s, others no port check (docs/boot-checks.md). */
  bootTimeoutMs?: number;
  /** `ps:logs TYPE=non-blocking`: the agent drops lines rather than block the process (docs/logs.md). */
  logsNonBlocking?: boolean;
}

/** An instance placed on an agent (the value under `assignments/<agentId>/<app>/<instance>`). */
export interface Assignment extends InstanceSpec {
  agentId: string;
}

/** The desired state of one app: its current release and formation. */
export interface AppView {
  name: string;
  /** Absent until the first deploy: nothing runs. */
  release?: {
    version: number;
    slug: string;
    processTypes: Record<string, string>;
    /** Not used to place anything (instances get it from the release); accepted for callers that pass it. */
    env?: Record<string, string>;
  };
  /** Desired count per process type. */
  formation: Record<string, number>;
  /** Restart tokens: key `*` (whole app), a type (`worker`) or an instance (`worker.3`). */
  restartTokens: Record<string, string>;
  /** Grace period per type; `*` for the app default. Missing: DEFAULT_GRACE_MS (the agent decides). */
  graceMs?: Record<string, number>;
  /** Boot timeout per type (ms); unset types use the default (docs/boot-checks.md). */
  bootTimeoutMs?: Record<string, number>;
  /** Log mode per type when not the default (`non-blocking`). */
  logModes?: Record<string, string>;
  /**
   * Where each process type may run: a type with a rule goes only to agents that carry every
   * one of its labels (same value) and, when given, are in its datacenter. Types without a
   * rule run anywhere.
   */
  placement?: Record<string, PlacementRule>;
}

/** A placement rule of one process type. */
export interface PlacementRule {
  labels: Record<string, string>;
  datacenter?: string;
  /**
   * Only agents that run `web` (not process servers with web off). Never stored: the scheduler
   * adds it to the rule of the `web` type while some agent has web off.
   */
  servesWeb?: boolean;
}

export interface SchedulerInput {
  apps: AppView[];
  agents: AgentView[];
  assignments: Assignment[];
}

/** An instance that could not be placed, and why (shown by `cluster ps`). */
export interface Unplaced {
  app: string;
  instance: string;
  type: string;
  reason: string;
}

/** Changes to apply. `put` creates or replaces; `remove` deletes an assignment from an agent. */
export interface Plan {
  put: Assignment[];
  remove: Array<{ agentId: string; app: string; instance: string }>;
  unplaced: Unplaced[];
}

/** 0 = unset: the agent applies its own default (`--stop-grace`, 30 s). */
export const DEFAULT_GRACE_MS = 0;
