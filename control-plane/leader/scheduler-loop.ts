/**
 * The leader's control loop: whenever apps, formations or agents change, take a
 * snapshot, ask the pure scheduler for a plan, and write the plan to etcd in batched
 * transactions fenced by leadership.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { ClusterView } from '../state/cluster-view';
import type { LeaderElection } from './election';
import { commitInChunks, type WriteOp } from '../etcd/batch';
import { decode, encode, type StatusRecord } from '../records';
import { limitRollout, type ObservedStatus } from './rollout';
import { holdMoves } from './moves';
import { schedule } from '../scheduler/schedule';
import type { AgentView, AppView, Assignment, Plan, SchedulerInput, Unplaced } from '../scheduler/types';
import { PrefixMirror, type MirrorEvent } from '../etcd/mirror';
import { AgentLiveness } from './agent-liveness';
import { pause, RetryDelay } from '../../lib/retry-delay';
import { encodeUnplaced } from '../state/instance-status';

/** How long to gather changes before a round, so a burst of events costs one round. */
const DEBOUNCE_MS = 5;
/**
 * After an agent joins (or this replica is elected), wait this long for others to join
 * before placing: when a whole cluster starts, the first agent up would otherwise get
 * every instance, and a host joining later moves nothing.
 */
const SETTLE_MS = 1_000;
/**
 * Longest a stream of joining agents postpones a round: agents that keep losing their leases
 * (an etcd too slow to renew them) register again and again, and each registration would
 * otherwise push the round back by SETTLE_MS, for ever (seen: nothing placed in 3 minutes).
 */
const MAX_SETTLE_MS = 3_000;
/**
 * Transactions of a plan in flight at once (see commitInChunks): one wide one, up to 2,048
 * writes. More would write 100k a little faster on an idle machine but lengthen etcd's queue of
 * writes to apply, and etcd's leader answers no lease keepalive before that queue is applied:
 * on a loaded machine every agent's renewal waited behind the plan, and leases expired
 * (docs/stack-notes.md, "etcd").
 */
const WRITE_CONCURRENCY = 1;
/** How long the old copy of a moving instance waits for its replacement to come up (see moves.ts). */
const MOVE_HOLD_MS = 120_000;
/** While removals are held, look again this often even without events (for MOVE_HOLD_MS to pass). */
const HOLD_RECHECK_MS = 5_000;

/** The parts of a status record (`status/<app>/<instance>/<agent>`) the leader reads. */
function observedStatus(text: string): ObservedStatus | undefined {
  const s = decode<StatusRecord>(text);
  return s && { state: s.state, release: s.release, restartToken: s.restartToken };
}

export interface SchedulerLoopOptions {
  /**
   * How long an agent that owns instances may stay unregistered, counted while this replica
   * leads, before its instances are placed elsewhere (agent-liveness.ts). At least 2 lease TTLs.
   */
  agentDownGraceMs: number;
  /** When this replica last found etcd unreachable (epoch ms, 0: never): the grace runs again from then. */
  lastEtcdOutageMs?: () => number;
  /** Round durations and plan sizes (control-plane/metrics/). */
  metrics?: { round(seconds: number, planChanges: number): void };
}

export class SchedulerLoop {
  private timer?: NodeJS.Timeout;
  private timerDue = 0;
  private running?: Promise<void>;
  /**
   * Starts and stops, one after the other: leadership can flap while etcd is unwell, and a start
   * still opening its mirrors must neither run beside the next start nor lose them to a stop.
   * Each start and stop begins a new generation; a start that is no longer the latest gives up.
   */
  private transitions: Promise<void> = Promise.resolve();
  private generation = 0;
  private again = false;
  private active = false;
  private unplaced?: PrefixMirror;
  private statuses?: PrefixMirror;
  /** Re-puts held back by the rollout bound and removals held by moves in the last round: status changes may free them. */
  private deferred = 0;
  /** When each removal held back by a move was first held (by this replica). */
  private readonly heldSince = new Map<string, number>();
  private recheck?: NodeJS.Timeout;
  private readonly onStatus = () => {
    if (this.deferred > 0) this.poke();
  };
  private settleUntil = 0;
  /** When the current settling period began (an agent joined while none was running). */
  private settleStarted = 0;
  private readonly liveness: AgentLiveness;
  /** The last registration seen of each agent, for the unreachable ones' datacenter and capacity. */
  private readonly lastSeen = new Map<string, AgentView>();
  /** Agents this replica has declared unreachable or down, to log each change once. */
  private readonly verdicts = new Map<string, 'unreachable' | 'down'>();
  private graceTimer?: NodeJS.Timeout;
  private readonly onChange = () => this.poke();
  private readonly onAgents = (events: MirrorEvent[]) => {
    if (events.some((e) => e.type === 'put' && e.entry?.createRevision === e.entry?.modRevision)) this.settle();
    this.poke();
  };

  constructor(
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly election: LeaderElection,
    private readonly logger: Logger,
    private readonly opts: SchedulerLoopOptions,
  ) {
    this.liveness = new AgentLiveness(opts.agentDownGraceMs);
  }

  /** Starts scheduling (call when elected). */
  start(): Promise<void> {
    if (this.active) return this.transitions;
    this.active = true;
    const generation = ++this.generation;
    return this.inTurn(() => this.begin(generation));
  }

  private async begin(generation: number): Promise<void> {
    const opened = await this.openMirrors(generation);
    if (!opened || !this.statuses) return;
    this.statuses.on('change', this.onStatus);
    for (const mirror of [this.view.apps, this.view.formations, this.view.assignments, this.view.drains, this.view.webToggles]) mirror.on('change', this.onChange);
    this.view.agents.on('change', this.onAgents);
    for (const mirror of this.mirrors()) mirror.on('resync', this.onChange);
    this.settleStarted = 0;
    this.settle();
    this.liveness.start();
    this.verdicts.clear();
    this.poke();
  }

  /**
   * Opens the leader's own mirrors, trying again until that works or the loop is stopped: a
   * replica is often elected just after etcd was unwell, and a loop left half started would
   * lead without ever scheduling. False when stopped (or started again) first.
   */
  private async openMirrors(generation: number): Promise<boolean> {
    const current = () => generation === this.generation;
    const delay = new RetryDelay({ initialMs: 200, maxMs: 2_000 });
    for (;;) {
      try {
        this.unplaced ??= await PrefixMirror.open(this.client, this.view.keys.allUnplaced(), this.logger);
        // Only what a rollout and a move read of each status (100k texts were ~25 MB).
        this.statuses ??= await PrefixMirror.open(this.client, this.view.keys.allStatus(), this.logger, { project: observedStatus });
        return current();
      } catch (err) {
        if (!current()) return false;
        const retryInMs = delay.next();
        this.logger.warn({ err: (err as Error).message, retryInMs }, 'opening the scheduler\'s views failed; retrying');
        await pause(retryInMs);
        if (!current()) return false;
      }
    }
  }

  /** Stops scheduling (when deposed or closing); waits for a round in flight. */
  stop(): Promise<void> {
    if (!this.active) return this.transitions;
    this.active = false;
    this.generation++;
    this.cancelTimers(); // now: no round may start while a start in progress gives up
    return this.inTurn(() => this.end());
  }

  private inTurn(transition: () => Promise<void>): Promise<void> {
    const next = this.transitions.catch(() => undefined).then(transition);
    this.transitions = next;
    return next;
  }

  private cancelTimers(): void {
    clearTimeout(this.timer);
    clearTimeout(this.recheck);
    this.recheck = undefined;
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
  }

  private async end(): Promise<void> {
    this.cancelTimers();
    this.heldSince.clear();
    for (const mirror of this.mirrors()) {
      mirror.off('change', this.onChange);
      mirror.off('resync', this.onChange);
    }
    this.view.agents.off('change', this.onAgents);
    await this.running;
    await this.unplaced?.close();
    this.unplaced = undefined;
    this.statuses?.off('change', this.onStatus);
    await this.statuses?.close();
    this.statuses = undefined;
  }

  private mirrors(): PrefixMirror[] {
    return [this.view.apps, this.view.formations, this.view.agents, this.view.assignments, this.view.drains, this.view.webToggles];
  }

  /** Waits SETTLE_MS more for agents to join before the next round, up to MAX_SETTLE_MS in all. */
  private settle(): void {
    const now = Date.now();
    if (this.settleUntil <= now) this.settleStarted = now;
    // Never earlier than already due (a failed round waits 1 s whatever joins meanwhile).
    this.settleUntil = Math.max(this.settleUntil, Math.min(now + SETTLE_MS, this.settleStarted + MAX_SETTLE_MS));
  }

  /** Asks for a round soon; rounds never overlap, and a stream of events cannot postpone one forever. */
  poke(): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const due = Math.max(Date.now() + DEBOUNCE_MS, this.settleUntil);
    if (this.timer && this.timerDue >= due - DEBOUNCE_MS) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round()
        .catch((err: unknown) => {
          this.logger.error({ err }, 'scheduling round failed; retrying in 1 s');
          this.settleUntil = Date.now() + 1_000; // never spin while etcd is unwell
          this.again = true;
        })
        .finally(() => {
          this.running = undefined;
          if (this.again) {
            this.again = false;
            this.poke();
          }
        });
    }, due - Date.now());
  }

  private async round(): Promise<void> {
    const started = performance.now();
    let changes = 0;
    try {
      changes = await this.planAndWrite();
    } finally {
      this.opts.metrics?.round((performance.now() - started) / 1000, changes);
    }
  }

  /** One round's work; returns how many assignments it wrote (placed plus removed). */
  private async planAndWrite(): Promise<number> {
    const input = await this.snapshot();
    const counts = new Map(input.apps.map((a) => [a.name, a.formation]));
    const limited = limitRollout(schedule(input), input.assignments, (a) => this.observed(a), (app, type) => counts.get(app)?.[type] ?? 0);
    const moves = this.holdMoves(limited.plan, input);
    this.deferred = limited.deferred + moves.held;
    const plan = moves.plan;
    const unplacedOps = this.unplacedOps(plan);
    if (unplacedOps.length + plan.put.length + plan.remove.length === 0) return 0;
    const revision = await commitInChunks(this.client, this.toOps(plan, unplacedOps), [this.election.fence()], WRITE_CONCURRENCY);
    if (revision === undefined) {
      this.logger.warn('lost leadership while writing a plan; stopping');
      await this.stop();
      return 0;
    }
    this.logger.info(
      { placed: plan.put.length, removed: plan.remove.length, unplaced: plan.unplaced.length, deferred: this.deferred },
      'applied scheduling plan',
    );
    // The next round must see this plan's own writes, or it would place twice.
    if (plan.put.length + plan.remove.length > 0) await this.view.assignments.waitForRevision(Number(revision));
    return plan.put.length + plan.remove.length;
  }

  /** Holds back removals of moving instances until their new copy is up (moves.ts). */
  private holdMoves(plan: Plan, input: SchedulerInput): { plan: Plan; held: number } {
    const now = Date.now();
    const draining = new Set(input.agents.filter((a) => a.state === 'draining').map((a) => a.id));
    const live = new Set(input.agents.map((a) => a.id));
    const res = holdMoves(plan, input.assignments, {
      observed: (a) => this.observed(a),
      isLive: (id) => live.has(id),
      isDraining: (id) => draining.has(id),
      heldForMs: (key) => now - (this.heldSince.get(key) ?? now),
      maxHoldMs: MOVE_HOLD_MS,
    });
    const held = new Set(res.held);
    for (const key of this.heldSince.keys()) if (!held.has(key)) this.heldSince.delete(key);
    for (const key of res.held) if (!this.heldSince.has(key)) this.heldSince.set(key, now);
    if (res.expired.length > 0) {
      this.logger.warn({ instances: res.expired }, `replacements not up after ${MOVE_HOLD_MS / 1000} s; stopping the old copies anyway`);
    }
    if (res.held.length > 0 && !this.recheck) {
      this.recheck = setTimeout(() => {
        this.recheck = undefined;
        this.poke();
      }, HOLD_RECHECK_MS);
    }
    return { plan: res.plan, held: res.held.length };
  }

  /** What the assigned agent reports about an instance, if anything. */
  private observed(a: Assignment): ObservedStatus | undefined {
    return this.statuses?.decoded<ObservedStatus>(this.view.keys.status(a.app, a.instance, a.agentId));
  }

  private async snapshot(): Promise<SchedulerInput> {
    const apps: AppView[] = [];
    for (const app of this.view.appList()) {
      const formation = this.view.formation(app.name);
      const release = await this.view.release(app);
      apps.push({
        name: app.name,
        release: release && {
          version: release.version,
          slug: release.slug,
          processTypes: release.processTypes,
          env: release.env,
        },
        formation: formation.counts,
        restartTokens: formation.restartTokens,
        graceMs: formation.graceMs,
        bootTimeoutMs: formation.bootTimeoutMs,
        logModes: formation.logModes,
        placement: formation.placement,
      });
    }
    const agents: AgentView[] = this.view.agentList().map((a) => ({
      id: a.id,
      datacenter: a.datacenter,
      labels: a.labels,
      capacity: a.capacity,
      state: a.state,
      web: this.view.servesWeb(a.id),
    }));
    const assignments = this.view.assignmentList();
    agents.push(...this.unreachableAgents(agents, assignments));
    return { apps, agents, assignments };
  }

  /**
   * Agents that own assignments but are not registered and are still within their grace
   * (agent-liveness.ts): the scheduler keeps their instances where they are.
   */
  private unreachableAgents(registered: AgentView[], assignments: Assignment[]): AgentView[] {
    for (const a of registered) this.lastSeen.set(a.id, a);
    const ids = new Set(registered.map((a) => a.id));
    this.liveness.heardNothingAt(this.opts.lastEtcdOutageMs?.() ?? 0);
    const verdict = this.liveness.classify(ids, assignments.map((a) => a.agentId));
    for (const id of verdict.unreachable) this.noteVerdict(id, 'unreachable');
    for (const id of verdict.down) this.noteVerdict(id, 'down');
    const missing = new Set([...verdict.unreachable, ...verdict.down]);
    for (const id of this.verdicts.keys()) {
      if (ids.has(id)) this.logger.info({ agent: id }, 'agent registered again: it keeps its instances');
      if (!missing.has(id)) this.verdicts.delete(id); // back, or owns nothing any more
    }
    for (const id of this.lastSeen.keys()) if (!ids.has(id) && !this.verdicts.has(id)) this.lastSeen.delete(id);
    clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (verdict.nextDeadlineMs !== undefined) {
      // Nothing else may happen when the grace ends: look again then.
      this.graceTimer = setTimeout(() => {
        this.graceTimer = undefined;
        this.poke();
      }, Math.max(0, verdict.nextDeadlineMs - Date.now()) + 10);
    }
    return verdict.unreachable.map((id) => ({
      id,
      datacenter: this.lastSeen.get(id)?.datacenter ?? 'unknown',
      labels: this.lastSeen.get(id)?.labels ?? {},
      capacity: this.lastSeen.get(id)?.capacity ?? 0,
      state: 'unreachable' as const,
      web: this.view.servesWeb(id),
    }));
  }

  private noteVerdict(id: string, verdict: 'unreachable' | 'down'): void {
    if (this.verdicts.get(id) === verdict) return;
    this.verdicts.set(id, verdict);
    if (verdict === 'unreachable') {
      this.logger.warn({ agent: id, graceMs: this.liveness.graceMs }, 'agent not registered: keeping its instances until it reconnects or its grace ends');
    } else {
      this.logger.warn({ agent: id, graceMs: this.liveness.graceMs }, 'agent down (missing for its whole grace): placing its instances elsewhere');
    }
  }

  /** The writes of `unplaced/<app>` keys the plan changes: one key per app, written only when it changes. */
  private unplacedOps(plan: Plan): WriteOp[] {
    const keys = this.view.keys;
    const ops: WriteOp[] = [];
    const byApp = new Map<string, Unplaced[]>();
    for (const u of plan.unplaced) byApp.set(u.app, [...(byApp.get(u.app) ?? []), u]);
    for (const [app, list] of byApp) {
      const value = encodeUnplaced(list);
      const current = this.unplaced?.entries.get(keys.unplaced(app))?.value.toString();
      if (current !== value) ops.push({ put: keys.unplaced(app), value });
    }
    for (const key of this.unplaced?.entries.keys() ?? []) {
      const app = keys.after(key, keys.allUnplaced());
      if (app !== undefined && !byApp.has(app)) ops.push({ delete: key });
    }
    return ops;
  }

  /**
   * Every write of the plan, made as commitInChunks reads them (a generator: 100k assignments'
   * keys and values are not all held at once).
   */
  private *toOps(plan: Plan, unplacedOps: WriteOp[]): Generator<WriteOp, void, undefined> {
    const keys = this.view.keys;
    yield* unplacedOps;
    // Assignment writes go last: the revision of the last chunk is then one the
    // assignments mirror will see (round() waits for it).
    // Grouped by agent: a transaction (up to 2,048 writes) then holds whole agents' shares, so
    // each agent gets its share in one or two stream messages and answers with one or two status
    // reports, instead of one of each per transaction (the scheduler spreads consecutive
    // instances over all agents).
    const byAgent = (x: { agentId: string }, y: { agentId: string }) => (x.agentId < y.agentId ? -1 : x.agentId > y.agentId ? 1 : 0);
    for (const r of [...plan.remove].sort(byAgent)) yield { delete: keys.assignment(r.agentId, r.app, r.instance) };
    for (const a of [...plan.put].sort(byAgent)) yield { put: keys.assignment(a.agentId, a.app, a.instance), value: encode(a) };
  }
}
