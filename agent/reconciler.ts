/**
 * Makes what runs on this agent match its assignments: starts what is missing, stops
 * what is gone, restarts what changed (release, command, config, restart token).
 *
 * Work on one instance is serialised in its slot; different instances proceed in
 * parallel, so a 30 s grace period of one stopping instance delays nobody else.
 *
 * Suspended (cut off from every control plane for too long, see disconnect-guard.ts), it
 * runs nothing, as if nothing were assigned, until the next snapshot of its assignments:
 * that one comes from a control plane again and says what this agent still owns.
 */
import type { Assignment__Output as Assignment } from '../proto/gen/cluster/agent/Assignment';
import { bootCheckFor } from './supervisor/boot-check';
import type { Instance } from './supervisor/instance';
import type { InstanceSnapshot } from './supervisor/instance-contract';
import type { AdoptedRecord } from './handover/take-over';
import type { WaitingRecord } from './handover/instance-state';
import { buildEnv } from './instance-env';
import { SpawnPacer } from './spawn-pacer';
import { describeChange, keyOf, sameAppCreation, specKey, splitKey } from './assignment-keys';
import { createInstance, type InstanceRun } from './instance-factory';
import { statusOf } from './instance-reports';
import { rememberRunning, type Running } from './remember-instance';
import type { ReconcilerDeps, SupervisedInstance } from './reconciler-deps';

const START_RETRY_MS = 2_000;

interface Slot {
  running?: Running;
  busy: boolean;
  again: boolean;
  retry?: NodeJS.Timeout;
  /** The assignment whose start failed last (reported `crashed`, retried); its status must go with it. */
  failed?: Assignment;
  /** Left by the previous agent run waiting out its crash loop backoff: its next start keeps to it. */
  waiting?: WaitingRecord;
}

export class Reconciler {
  private desired = new Map<string, Assignment>();
  private readonly slots = new Map<string, Slot>();
  private closed = false;
  /** Why everything is stopped until the next snapshot; undefined while running normally. */
  private suspended?: string;
  /** A control plane answers again since suspend(): the next snapshot lifts the suspension. */
  private resumeAllowed = false;
  /** A snapshot of the assignments came: `desired` is what this agent owns. */
  private snapshotSeen = false;

  private readonly pacer: SpawnPacer;

  constructor(private readonly deps: ReconcilerDeps) {
    this.pacer = deps.pacer ?? new SpawnPacer();
  }

  /** Applies a batch from the assignment stream. */
  apply(batch: { snapshot: boolean; upserts: Assignment[]; removes: Array<{ app: string; instance: string }> }): void {
    if (this.closed) return;
    if (batch.snapshot) {
      this.desired = new Map();
      this.snapshotSeen = true;
    }
    // Not any snapshot: with several replicas the link switches replica each time one fails,
    // and each switch reopens the stream; a replica that lost etcd answers with a snapshot of
    // its stale copy. Only one asked for once a control plane answers heartbeats again counts.
    if (batch.snapshot && this.suspended !== undefined && this.resumeAllowed) {
      this.deps.logger.info('assignments received from a control plane again: running what this agent owns');
      this.suspended = undefined;
    }
    for (const a of batch.upserts) this.desired.set(keyOf(a.app, a.instance), a);
    for (const r of batch.removes) this.desired.delete(keyOf(r.app, r.instance));
    this.deps.releases.configs.retain(this.desired.values());
    const touched = new Set([...this.desired.keys(), ...this.slots.keys()]);
    for (const key of touched) this.kick(key);
  }

  /**
   * Takes over the instances an earlier agent run left running (agent/handover/). They run on
   * untouched until the first snapshot of assignments says whether they are still wanted as they are.
   * `notice` goes into each one's "Taken over" log line.
   */
  adopt(records: AdoptedRecord[], notice?: string): void {
    for (const record of records) {
      const key = keyOf(record.app, record.instance);
      if (this.slots.has(key)) continue;
      this.deps.ports.reserve(record.port);
      const spec = record.spec as unknown as Assignment;
      const slot: Slot = { busy: false, again: false };
      const instance = this.newInstance(key, slot, spec, {
        command: record.command,
        cwd: record.cwd,
        // What it was started with, for its restarts: exactly what the previous run gave it.
        env: record.env ?? {},
        graceMs: record.graceMs,
        port: record.port,
      });
      slot.running = { spec, specKey: record.specKey, instance, port: record.port, cwd: record.cwd, command: record.command };
      this.slots.set(key, slot);
      if (!record.env) this.restoreEnv(key, spec, record.port, instance);
      instance.adopt({
        pid: record.pid,
        startTicks: record.startTicks,
        startedAtMs: record.startedAtMs,
        restarts: record.restarts,
        crashes: record.crashes,
        notice,
        booting: record.booting === true,
      });
      if (record.stoppingSinceMs !== undefined) {
        // The previous run was stopping it: the stop goes on, to its own deadline. What the
        // first snapshot says is done once it has stopped (converge() waits for this stop).
        slot.running.stoppingSinceMs = record.stoppingSinceMs;
        instance.stop('no longer assigned to this host', record.stoppingSinceMs).catch((err: unknown) =>
          this.deps.logger.error({ err, key }, 'bug: finishing the stop of an adopted instance failed'));
      }
    }
  }

  /**
   * Takes over the instances an earlier agent run left waiting out their crash loop backoff (no
   * process). Started once the first snapshot still assigns them as they were, at the time and
   * with the counters that run had; else reported gone, or started afresh as changed.
   */
  adoptWaiting(records: WaitingRecord[]): void {
    for (const record of records) {
      const key = keyOf(record.app, record.instance);
      if (this.slots.has(key)) continue;
      // `failed`: its `crashed` status goes with it if it is no longer assigned (converge()).
      this.slots.set(key, { busy: false, again: false, waiting: record, failed: record.spec as unknown as Assignment });
      this.deps.record(key, record);
    }
  }

  /** An adopted instance's environment for its restarts, made as a fresh start's (its own said nothing). */
  private restoreEnv(key: string, spec: Assignment, port: number, instance: Instance): void {
    this.deps.releases.configs
      .get(spec.app, spec.release, spec.slug)
      .then((release) => instance.setEnv(buildEnv(spec, release.env, port, this.deps)))
      .catch((err: unknown) => this.deps.logger.warn({ err: (err as Error).message, key }, 'cannot rebuild the environment of a taken-over instance; its restarts may miss config'));
  }

  /**
   * Hand-over to the next agent run: stops watching every instance and starts nothing more,
   * but leaves the processes running (orphan-guard.ts stops them if no agent comes back).
   */
  detach(): void {
    this.closed = true;
    for (const slot of this.slots.values()) {
      clearTimeout(slot.retry);
      slot.running?.instance.detach();
    }
  }

  /** How many instances run (or are being started) here. */
  get size(): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.running) n++;
    return n;
  }

  /** Every instance supervised here now. */
  list(): SupervisedInstance[] {
    const out: SupervisedInstance[] = [];
    for (const slot of this.slots.values()) {
      const running = slot.running;
      if (!running) continue;
      const { state, pid } = running.instance.snapshot();
      out.push({ app: running.spec.app, instance: running.spec.instance, type: running.spec.type, state, pid });
    }
    return out;
  }

  /**
   * The slugs (digests) of what is assigned here, even while suspended, and of what runs (or
   * stops); undefined until the first snapshot says what is assigned.
   */
  slugsInUse(): ReadonlySet<string> | undefined {
    if (!this.snapshotSeen) return undefined;
    const out = new Set<string>();
    for (const a of this.desired.values()) out.add(a.slug);
    for (const slot of this.slots.values()) {
      if (slot.running) out.add(slot.running.spec.slug);
      if (slot.failed) out.add(slot.failed.slug);
    }
    return out;
  }

  /**
   * Stops every instance and starts nothing until the next snapshot of assignments (see above).
   * Unlike close(), the agent carries on and resumes by itself.
   */
  suspend(reason: string): void {
    if (this.closed) return;
    // Cut off again before the snapshot allowed came: only one asked for after the next answer counts.
    this.resumeAllowed = false;
    if (this.suspended !== undefined) return;
    this.suspended = reason;
    this.deps.logger.warn({ instances: this.size, reason }, 'stopping every instance until a control plane sends assignments again');
    for (const key of this.slots.keys()) this.kick(key);
  }

  /** A control plane answers again: the next snapshot of assignments lifts the suspension. */
  allowResume(): void {
    if (this.suspended !== undefined) this.resumeAllowed = true;
  }

  /** Whether suspend() holds everything stopped. */
  get isSuspended(): boolean {
    return this.suspended !== undefined;
  }

  /** Stops every instance (agent shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    const stops: Array<Promise<void>> = [];
    for (const slot of this.slots.values()) {
      clearTimeout(slot.retry);
      if (slot.running) stops.push(slot.running.instance.stop('agent shutting down'));
    }
    await Promise.allSettled(stops);
  }

  /** SIGKILL to a running instance's process (`ps:kill`); its supervisor restarts it. False when none runs. */
  kill(app: string, instance: string): boolean {
    return this.slots.get(keyOf(app, instance))?.running?.instance.kill() ?? false;
  }

  private kick(key: string): void {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { busy: false, again: false }));
    if (slot.busy) {
      slot.again = true;
      return;
    }
    slot.busy = true;
    const current = slot;
    void this.converge(key, current)
      .catch((err: unknown) => this.deps.logger.error({ err, key }, 'reconciling an instance failed'))
      .finally(() => {
        current.busy = false;
        if (current.again && !this.closed) {
          current.again = false;
          this.kick(key);
        } else if (!current.running && !this.desired.has(key) && !current.retry && !this.closed) {
          this.slots.delete(key);
          const [app, instance] = splitKey(key);
          try {
            this.deps.fifos.remove(app, instance);
          } catch (err) {
            this.deps.logger.warn({ err, key }, 'cannot remove the output FIFOs of a gone instance');
          }
        }
      });
  }

  /** One step towards the desired state of one instance; reads `desired` when it runs. */
  private async converge(key: string, slot: Slot): Promise<void> {
    const want = this.wanted(key);
    const running = slot.running;
    // An instance adopted while it was being stopped is never the one wanted, whatever its spec.
    const same =
      running !== undefined &&
      want !== undefined &&
      running.specKey === specKey(want) &&
      sameAppCreation(running.spec, want) &&
      running.stoppingSinceMs === undefined;
    if (running && want && same && running.spec !== want) {
      running.spec = want;
      running.instance.setGraceMs(want.grace_ms > 0 ? want.grace_ms : this.deps.defaultGraceMs);
      running.instance.setBootCheck(bootCheckFor(want.type, want.boot_timeout_ms ?? 0, running.port));
      // The gate object stays; only its mode changes (`ps:logs`).
      this.deps.outputGate?.(want.app, want.instance, !want.logs_non_blocking);
      rememberRunning(this.deps, key, running);
    }
    if (running && !same) {
      const why = this.suspended ?? (!want ? 'no longer assigned to this host' : describeChange(running.spec, want));
      await running.instance.stop(why);
      this.deps.ports.release(running.port);
      slot.running = undefined;
      this.deps.record(key, undefined);
      if (!want) this.report(running.spec, running.port, running.instance.snapshot(), 'gone');
    }
    if (this.closed) return;
    const stillWanted = this.wanted(key);
    if (!stillWanted && slot.failed) {
      // Never started: no process to stop, but its `crashed` status would stay under the lease
      // (in `ps` as stopping, holding up `--wait`) for as long as the agent runs.
      clearTimeout(slot.retry);
      slot.retry = undefined;
      this.report(slot.failed, 0, { state: 'crashed', pid: 0, startedAtMs: 0, restarts: 0, reason: this.suspended ?? 'no longer assigned to this host' }, 'gone');
      slot.failed = undefined;
      if (slot.waiting) this.deps.record(key, undefined);
      slot.waiting = undefined;
    }
    if (!stillWanted || slot.running) return;
    await this.start(key, slot, stillWanted);
  }

  /** What should run in slot `key` now: nothing while suspended. */
  private wanted(key: string): Assignment | undefined {
    return this.suspended === undefined ? this.desired.get(key) : undefined;
  }

  private async start(key: string, slot: Slot, spec: Assignment): Promise<void> {
    clearTimeout(slot.retry);
    slot.retry = undefined;
    let port = 0;
    try {
      const [cwd, release] = await Promise.all([
        this.deps.releases.ensure(spec.slug),
        this.deps.releases.configs.get(spec.app, spec.release, spec.slug, spec.app_created_at_ms ?? 0),
        this.deps.fifos.make(spec.app, spec.instance),
      ]);
      const command = Object.hasOwn(release.processTypes, spec.type) ? release.processTypes[spec.type] : undefined;
      if (command === undefined) throw new Error(`release v${spec.release} has no process type \`${spec.type}\``);
      port = await this.deps.ports.allocate();
      // The spawn waits its turn (spawn-pacer.ts), so the spec is checked again when it comes.
      const started = await this.pacer.run(() => {
        if (this.closed || this.wanted(key) !== spec) return false;
        const instance = this.newInstance(key, slot, spec, {
          command,
          cwd,
          env: buildEnv(spec, release.env, port, this.deps),
          graceMs: spec.grace_ms > 0 ? spec.grace_ms : this.deps.defaultGraceMs,
          port,
        });
        slot.running = { spec, specKey: specKey(spec), instance, port, cwd, command };
        slot.failed = undefined;
        const waiting = slot.waiting;
        slot.waiting = undefined;
        // As the previous run left it only when assigned as it was then: a change starts afresh.
        if (waiting && waiting.specKey === slot.running.specKey && sameAppCreation(waiting.spec as unknown as Assignment, spec)) instance.resumeBackoff(waiting);
        else instance.start();
        return true;
      });
      if (!started) {
        this.deps.ports.release(port);
        port = 0;
        if (!this.closed) slot.again = true; // the assignment changed while we waited: look again
      }
    } catch (err) {
      if (port) this.deps.ports.release(port);
      const reason = `could not start: ${(err as Error).message}`;
      this.deps.logger.warn({ app: spec.app, instance: spec.instance, err: (err as Error).message }, 'instance could not start; retrying');
      this.report(spec, 0, { state: 'crashed', pid: 0, startedAtMs: 0, restarts: 0, reason }, 'crashed');
      slot.failed = spec;
      slot.retry = setTimeout(() => {
        slot.retry = undefined;
        this.kick(key);
      }, START_RETRY_MS);
    }
  }

  private newInstance(key: string, slot: Slot, spec: Assignment, run: InstanceRun): Instance {
    return createInstance(this.deps, this.pacer, spec, run, (snapshot) => {
      // slot.running.spec, not `spec`: an adopted instance learns its assignment later.
      const running = slot.running;
      this.report(running?.spec ?? spec, run.port, snapshot);
      if (running) rememberRunning(this.deps, key, running);
    });
  }

  private report(spec: Assignment, port: number, snapshot: InstanceSnapshot, override?: string): void {
    this.deps.report(statusOf(spec, port, snapshot, override));
  }
}
