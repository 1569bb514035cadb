/**
 * The leader's control loop: whenever apps, formations or agents change, take a
 * snapshot, ask the pure scheduler for a plan, and write the plan to etcd in batched
 * transactions fenced by leadership.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../lib/log';
import type { ClusterView } from '../state/cluster-view';
import type { LeaderElection } from './election';
import { commitInChunks } from '../etcd/batch';
import { limitRollout, type ObservedStatus } from './rollout';
import { ObservedStatuses } from './observed-statuses';
import { holdMoves } from './moves';
import { schedule } from '../scheduler/schedule';
import type { Assignment, Plan, SchedulerInput } from '../scheduler/types';
import { PrefixMirror, type MirrorEvent } from '../etcd/mirror';
import { pause, RetryDelay } from '../../lib/retry-delay';
import { planOps, unplacedOps, WRITE_CONCURRENCY } from './plan-writes';
import { DEBOUNCE_MS, SettleWindow } from './round-timing';
import { UnreachableAgents } from './unreachable-agents';
import { schedulerInput } from './scheduler-input';
import { logPassFailed } from '../etcd/outage';

/** How long the old copy of a moving instance waits for its replacement to come up (see moves.ts). */
const MOVE_HOLD_MS = 120_000;
/** While removals are held, look again this often even without events (for MOVE_HOLD_MS to pass). */
const HOLD_RECHECK_MS = 5_000;
/** How long a round waits for the assignments mirror to show its plan before reading them afresh. */
const CATCH_UP_MS = 10_000;

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
  /**
   * Whether every live replica reads assignments packed per agent and app
   * (state/packed-assignments.ts); missing: yes. Poke the loop when the answer may have changed.
   */
  packsAssignments?: () => boolean;
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
  /**
   * Set once a start has opened its views and started the grace (begin): until then a poke (a
   * replica joining, an agent's event) must not run a round, which would see every agent that
   * is still reconnecting as missing with no grace at all, and move everything.
   */
  private begun = false;
  private unplaced?: PrefixMirror;
  private statuses?: ObservedStatuses;
  /** Re-puts held back by the rollout bound and removals held by moves in the last round: status changes may free them. */
  private deferred = 0;
  /** When each removal held back by a move was first held (by this replica). */
  private readonly heldSince = new Map<string, number>();
  private recheck?: NodeJS.Timeout;
  /** A plan's commit failed (a deadline, etcd away): etcd may hold more of it than the mirrors show. */
  private commitFailed = false;
  private readonly onStatus = () => {
    if (this.deferred > 0) this.poke();
  };
  private readonly settling = new SettleWindow();
  private readonly unreachable: UnreachableAgents;
  private readonly onChange = () => this.poke();
  private readonly onAgents = (events: MirrorEvent[]) => {
    if (events.some((e) => e.type === 'put' && e.entry?.createRevision === e.entry?.modRevision)) this.settling.settle();
    this.poke();
  };

  constructor(
    private readonly client: Etcd3,
    private readonly view: ClusterView,
    private readonly election: LeaderElection,
    private readonly logger: Logger,
    private readonly opts: SchedulerLoopOptions,
  ) {
    this.unreachable = new UnreachableAgents(opts.agentDownGraceMs, logger, view, () => this.poke());
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
    this.statuses.mirror.on('change', this.onStatus);
    for (const mirror of [this.view.apps, this.view.formations, this.view.assignments, this.view.drains, this.view.webToggles, this.view.restartHolds]) mirror.on('change', this.onChange);
    this.view.agents.on('change', this.onAgents);
    for (const mirror of this.mirrors()) mirror.on('resync', this.onChange);
    this.settling.restart();
    this.settling.settle();
    this.unreachable.start();
    this.begun = true;
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
        this.statuses ??= await ObservedStatuses.open(this.client, this.view.keys, this.logger);
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
    this.begun = false;
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
    this.unreachable.cancel();
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
    this.statuses?.mirror.off('change', this.onStatus);
    await this.statuses?.close();
    this.statuses = undefined;
  }

  private mirrors(): PrefixMirror[] {
    return [this.view.apps, this.view.formations, this.view.agents, this.view.assignments, this.view.drains, this.view.webToggles, this.view.restartHolds];
  }

  /** Asks for a round soon; rounds never overlap, and a stream of events cannot postpone one forever. */
  poke(): void {
    if (!this.active || !this.begun) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const due = Math.max(Date.now() + DEBOUNCE_MS, this.settling.until);
    if (this.timer && this.timerDue >= due - DEBOUNCE_MS) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round()
        .catch((err: unknown) => {
          logPassFailed(this.logger, err, 'scheduling round');
          this.settling.until = Date.now() + 1_000; // never spin while etcd is unwell
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
    if (this.commitFailed) {
      // The failed commit may have been applied without this replica's watch showing it yet: a
      // plan made from that copy would rewrite an agent's packed value as it was before.
      await this.view.assignments.refresh();
      this.commitFailed = false;
    }
    // Read before the input: a registration seen while it is gathered leaves this plan's list
    // outdated (the next round, which the registration asks for, writes it again), never current.
    const agentsRevision = this.view.agentsRevision();
    const input = await schedulerInput(this.view, (registered, assignments) =>
      this.unreachable.list(registered, assignments, this.opts.lastEtcdOutageMs?.() ?? 0, this.view.restartHeldAgents()));
    const counts = new Map(input.apps.map((a) => [a.name, a.formation]));
    const limited = limitRollout(schedule(input), input.assignments, (a) => this.observed(a), (app, type) => counts.get(app)?.[type] ?? 0);
    const moves = this.holdMoves(limited.plan, input);
    this.deferred = limited.deferred + moves.held;
    const plan = moves.plan;
    const unplaced = unplacedOps(plan, this.view.keys, this.unplaced?.entries ?? new Map(), agentsRevision);
    const packs = this.opts.packsAssignments?.() ?? true;
    // Packed groups are written back per instance as soon as a replica that cannot read them joins.
    const unpacks = !packs && !this.view.placed.packedGroups().next().done;
    if (unplaced.length + plan.put.length + plan.remove.length === 0 && !unpacks) return 0;
    const [term, generation] = [this.election.term(), this.generation];
    const ops = planOps(plan, this.view.keys, unplaced, this.view.placed, packs);
    let revision: string | undefined;
    try {
      revision = await commitInChunks(this.client, ops, [this.election.fence()], WRITE_CONCURRENCY);
    } catch (err) {
      this.commitFailed = true;
      throw err;
    }
    if (revision === undefined) {
      // Only if nothing changed meanwhile: a round of an earlier term must not stop the next.
      if (generation !== this.generation) return 0;
      this.logger.warn('lost leadership while writing a plan; stopping');
      // Not awaited: stop() waits for the round in flight, which is this one.
      this.stop().catch((err: unknown) => this.logger.error({ err }, 'stopping the scheduler failed'));
      this.election.stepDown(term);
      return 0;
    }
    this.logger.info(
      { placed: plan.put.length, removed: plan.remove.length, unplaced: plan.unplaced.length, deferred: this.deferred },
      'applied scheduling plan',
    );
    // The next round must see this plan's own writes, or it would place twice.
    if (plan.put.length + plan.remove.length > 0 || unpacks) await this.view.assignments.catchUp(Number(revision), CATCH_UP_MS);
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
    return this.statuses?.observed(a.app, a.instance, a.agentId);
  }
}
