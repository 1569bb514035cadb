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
import type { InstanceStatus } from '../proto/gen/cluster/agent/InstanceStatus';
import type { Logger } from '../lib/log';
import { Instance, type InstanceSnapshot, type InstanceStream } from './supervisor/instance';
import type { PortAllocator } from './supervisor/ports';
import type { ReleaseCache } from './releases/release-cache';
import { buildEnv } from './instance-env';
import { SpawnPacer } from './spawn-pacer';

const START_RETRY_MS = 2_000;

interface Running {
  spec: Assignment;
  instance: Instance;
  port: number;
}

interface Slot {
  running?: Running;
  busy: boolean;
  again: boolean;
  retry?: NodeJS.Timeout;
}

export interface ReconcilerDeps {
  agentId: string;
  /** Grace period for types without their own (`--stop-grace`). */
  defaultGraceMs: number;
  ports: PortAllocator;
  releases: ReleaseCache;
  logger: Logger;
  report(status: InstanceStatus): void;
  onLine(app: string, instance: string, stream: InstanceStream, line: string, cut: boolean): void;
  onSpawn(pid: number): void;
  onExit(pid: number): void;
  /** Spreads first starts over event-loop turns (spawn-pacer.ts); default: a pacer of its own. */
  pacer?: SpawnPacer;
}

function keyOf(app: string, instance: string): string {
  return `${app}/${instance}`;
}

/** Fields whose change means the process must be restarted (a new grace period does not). */
function sameSpec(a: Assignment, b: Assignment): boolean {
  return (
    a.release === b.release &&
    a.slug === b.slug &&
    a.command === b.command &&
    a.restart_token === b.restart_token &&
    JSON.stringify(a.env) === JSON.stringify(b.env)
  );
}

export class Reconciler {
  private desired = new Map<string, Assignment>();
  private readonly slots = new Map<string, Slot>();
  private closed = false;
  /** Why everything is stopped until the next snapshot; undefined while running normally. */
  private suspended?: string;

  private readonly pacer: SpawnPacer;

  constructor(private readonly deps: ReconcilerDeps) {
    this.pacer = deps.pacer ?? new SpawnPacer();
  }

  /** Applies a batch from the assignment stream. */
  apply(batch: { snapshot: boolean; upserts: Assignment[]; removes: Array<{ app: string; instance: string }> }): void {
    if (this.closed) return;
    if (batch.snapshot) this.desired = new Map();
    if (batch.snapshot && this.suspended !== undefined) {
      this.deps.logger.info('assignments received from a control plane again: running what this agent owns');
      this.suspended = undefined;
    }
    for (const a of batch.upserts) this.desired.set(keyOf(a.app, a.instance), a);
    for (const r of batch.removes) this.desired.delete(keyOf(r.app, r.instance));
    const touched = new Set([...this.desired.keys(), ...this.slots.keys()]);
    for (const key of touched) this.kick(key);
  }

  /** How many instances run (or are being started) here. */
  get size(): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.running) n++;
    return n;
  }

  /**
   * Stops every instance and starts nothing until the next snapshot of assignments (see above).
   * Unlike close(), the agent carries on and resumes by itself.
   */
  suspend(reason: string): void {
    if (this.closed || this.suspended !== undefined) return;
    this.suspended = reason;
    this.deps.logger.warn({ instances: this.size, reason }, 'stopping every instance until a control plane is reachable again');
    for (const key of this.slots.keys()) this.kick(key);
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
        } else if (!current.running && !this.desired.has(key) && !current.retry) {
          this.slots.delete(key);
        }
      });
  }

  /** One step towards the desired state of one instance; reads `desired` when it runs. */
  private async converge(key: string, slot: Slot): Promise<void> {
    const want = this.wanted(key);
    const running = slot.running;
    if (running && want && sameSpec(running.spec, want) && running.spec !== want) {
      running.spec = want;
      running.instance.setGraceMs(want.grace_ms > 0 ? want.grace_ms : this.deps.defaultGraceMs);
    }
    if (running && (!want || !sameSpec(running.spec, want))) {
      const why = this.suspended ?? (!want ? 'no longer assigned to this host' : describeChange(running.spec, want));
      await running.instance.stop(why);
      this.deps.ports.release(running.port);
      slot.running = undefined;
      if (!want) this.report(running.spec, running.port, running.instance.snapshot(), 'gone');
    }
    if (this.closed) return;
    const stillWanted = this.wanted(key);
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
      const cwd = await this.deps.releases.ensure(spec.slug);
      port = await this.deps.ports.allocate();
      // The spawn waits its turn (spawn-pacer.ts), so the spec is checked again when it comes.
      const started = await this.pacer.run(() => {
        if (this.closed || this.wanted(key) !== spec) return false;
        this.startInstance(slot, spec, cwd, port);
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
      slot.retry = setTimeout(() => {
        slot.retry = undefined;
        this.kick(key);
      }, START_RETRY_MS);
    }
  }

  /** Creates and starts the instance's supervisor (spawns its process): runs in the pacer's turn. */
  private startInstance(slot: Slot, spec: Assignment, cwd: string, port: number): void {
    const instance = new Instance(
      {
        app: spec.app,
        instance: spec.instance,
        type: spec.type,
        command: spec.command,
        cwd,
        env: buildEnv(spec, port, this.deps.agentId),
        graceMs: spec.grace_ms > 0 ? spec.grace_ms : this.deps.defaultGraceMs,
      },
      {
        logger: this.deps.logger,
        onChange: (snapshot) => this.report(spec, port, snapshot),
        onLine: (stream, line, cut) => this.deps.onLine(spec.app, spec.instance, stream, line, cut ?? false),
        onSpawn: (pid) => this.deps.onSpawn(pid),
        onExit: (pid) => this.deps.onExit(pid),
      },
    );
    slot.running = { spec, instance, port };
    instance.start();
  }

  private report(spec: Assignment, port: number, snapshot: InstanceSnapshot, override?: string): void {
    const state = override ?? (snapshot.state === 'stopped' ? 'stopping' : snapshot.state);
    this.deps.report({
      app: spec.app,
      instance: spec.instance,
      state,
      pid: snapshot.pid,
      started_at_ms: snapshot.startedAtMs,
      restarts: snapshot.restarts,
      reason: snapshot.reason,
      release: spec.release,
      port,
      restart_token: spec.restart_token,
    });
  }
}

function describeChange(from: Assignment, to: Assignment): string {
  if (from.release !== to.release) return `deploying release v${to.release}`;
  if (from.restart_token !== to.restart_token) return 'restart requested';
  return 'configuration changed';
}
