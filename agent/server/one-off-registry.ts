/**
 * The one-off processes of this agent run, by app, name (run.N, release.N) and run id: those
 * running, and the exits of the last ones that ended. It lets a control plane start a run at most
 * once (a run seen before is refused), follow a detached run to its end after a leader failover
 * (WatchRun), and stop it (StopRun: scheduled jobs' `replace`, `apps:destroy`, `ps:stop`, `ps:kill`).
 * docs/scheduled-jobs.md.
 *
 * A name alone does not tell runs apart: an app destroyed and created again numbers its releases
 * from 1 again, and its release.1 is another run than the old app's. A control plane gives each
 * release command a run id (RunStart.run_id): a run is known by app, name and id, and a name seen
 * before starts again under a new id. A call without an id (a control plane of an older version)
 * means the last run of that name, as before ids. A stop of a run id not heard of yet refuses
 * that run for good: a leader that gave a claimed release command up must not see it start later.
 *
 * A run whose launch ended before its spawn for a reason of its own (its starting call was
 * cancelled, its code could not be fetched) is remembered as not started, with why: WatchRun
 * says so (not an exit), and the same run asked again may start then: it never ran. One stopped
 * before its spawn on request (ps:stop, ps:kill, apps:destroy) stays not started.
 */
import type { RunExit } from '../../proto/gen/cluster/run/RunExit';

/** Exits remembered after their run ended (a new leader asks within seconds). */
const REMEMBERED_EXITS = 1_000;

/**
 * `agent-stop`: `agent stop --stop-instances`; `agent-restart`: a hand-over, which one-offs are
 * not part of; `app-destroyed`: `apps:destroy` of the run's app.
 */
/** How a run ended: its exit, or why it never started. */
export type RunEnd = { exit: RunExit; notStarted?: undefined } | { notStarted: string; exit?: undefined };

export type StopReason = 'timeout' | 'request' | 'kill' | 'agent-stop' | 'agent-restart' | 'app-destroyed';

export interface RunningOneOff {
  /** SIGTERM to the group, SIGKILL after the grace period (`kill`: SIGKILL at once); idempotent. */
  stop(reason: StopReason): void;
}

/**
 * A reserved name whose process is still launching (its slug being fetched): a stop ends the
 * launch, which then never spawns the command (run-service.ts).
 */
class Launching implements RunningOneOff {
  stopWith: StopReason | undefined;
  private readonly listeners: Array<(reason: StopReason) => void> = [];
  stop(reason: StopReason): void {
    const first = this.stopWith === undefined;
    // SIGKILL wins over a stop asked for before it.
    if (first || reason === 'kill') this.stopWith = reason;
    if (first) for (const listener of this.listeners.splice(0)) listener(reason);
  }
  onStop(listener: (reason: StopReason) => void): void {
    if (this.stopWith) listener(this.stopWith);
    else this.listeners.push(listener);
  }
}

export class OneOffRegistry {
  /** By run key (app/name#id). */
  private readonly running = new Map<string, RunningOneOff>();
  private readonly exits = new Map<string, RunExit>();
  /** Runs that never started, and may be asked again (see above): by key, why. */
  private readonly notStarted = new Map<string, string>();
  private readonly waiters = new Map<string, Array<(end: RunEnd) => void>>();
  /**
   * Runs (by key, with an id) asked to stop before this agent heard of them: a start that arrives
   * later, from a control plane that has since given the run up, is refused.
   */
  private readonly refused = new Set<string>();
  /** The key of the last run of each name (app/name), for calls without a run id. */
  private readonly last = new Map<string, string>();
  /** Set by stopAll: a run launched from then on is stopped, for this reason, as soon as it is attached. */
  private stoppingAll: StopReason | undefined;

  private static key(app: string, instance: string, runId: string): string {
    return `${app}/${instance}#${runId}`;
  }

  /** The run a call means: that id's, or without one the last run of the name. */
  private resolve(app: string, instance: string, runId: string): string {
    return runId ? OneOffRegistry.key(app, instance, runId) : (this.last.get(`${app}/${instance}`) ?? OneOffRegistry.key(app, instance, ''));
  }

  /** Whether stopAll was called: no run may start any more. */
  get stopping(): boolean {
    return this.stoppingAll !== undefined;
  }

  /** Whether this run (without an id: any run of this name) runs or ended lately. */
  known(app: string, instance: string, runId = ''): boolean {
    const key = this.resolve(app, instance, runId);
    return this.running.has(key) || this.exits.has(key) || this.refused.has(key);
  }

  /** Reserves a run before it is launched (false: taken). A run that never started may be reserved again. */
  reserve(app: string, instance: string, runId = ''): boolean {
    if (this.known(app, instance, runId)) return false;
    const key = OneOffRegistry.key(app, instance, runId);
    this.notStarted.delete(key);
    this.running.set(key, new Launching());
    this.last.set(`${app}/${instance}`, key);
    return true;
  }

  /**
   * Calls `listener` with the reason once a stop comes for a reserved run that is still launching
   * (at once if one came already); the launch then gives up instead of spawning.
   */
  onStopWhileLaunching(app: string, instance: string, listener: (reason: StopReason) => void, runId = ''): void {
    const launching = this.running.get(OneOffRegistry.key(app, instance, runId));
    if (launching instanceof Launching) launching.onStop(listener);
  }

  /** The stop asked for a reserved run that is still launching, if any: checked right before its spawn. */
  stopWhileLaunching(app: string, instance: string, runId = ''): StopReason | undefined {
    const launching = this.running.get(OneOffRegistry.key(app, instance, runId));
    return launching instanceof Launching ? launching.stopWith : undefined;
  }

  /** The launched process behind a reserved run; stopped at once when a stop came while it launched. */
  attach(app: string, instance: string, run: RunningOneOff, runId = ''): void {
    const key = OneOffRegistry.key(app, instance, runId);
    const launching = this.running.get(key);
    this.running.set(key, run);
    if (this.stoppingAll) run.stop(this.stoppingAll);
    else if (launching instanceof Launching && launching.stopWith) run.stop(launching.stopWith);
  }

  /** The run ended (or never started): remember its exit and tell whoever waits. */
  finish(app: string, instance: string, exit: RunExit, runId = ''): void {
    const key = OneOffRegistry.key(app, instance, runId);
    this.running.delete(key);
    this.exits.set(key, exit);
    while (this.exits.size > REMEMBERED_EXITS) {
      const oldest = this.exits.keys().next().value!;
      this.exits.delete(oldest);
      const name = oldest.slice(0, oldest.lastIndexOf('#'));
      if (this.last.get(name) === oldest && !this.running.has(oldest)) this.last.delete(name);
    }
    this.tellWaiters(key, { exit });
  }

  /**
   * The reserved run's launch ended before its spawn, not on request (its caller went away, its
   * code could not be fetched): remembered as not started, for `reason`; it may be reserved again.
   */
  giveUp(app: string, instance: string, reason: string, runId = ''): void {
    const key = OneOffRegistry.key(app, instance, runId);
    this.running.delete(key);
    this.notStarted.set(key, reason);
    if (this.notStarted.size > REMEMBERED_EXITS) this.notStarted.delete(this.notStarted.keys().next().value!);
    this.tellWaiters(key, { notStarted: reason });
  }

  private tellWaiters(key: string, end: RunEnd): void {
    for (const resolve of this.waiters.get(key) ?? []) resolve(end);
    this.waiters.delete(key);
  }

  /**
   * Calls `onEnd` with how the run ended: at once if it ended (or never started), when it ends if
   * it runs or launches. Returns a cancel function, or undefined when this agent does not know the run.
   */
  watch(app: string, instance: string, onEnd: (end: RunEnd) => void, runId = ''): (() => void) | undefined {
    const key = this.resolve(app, instance, runId);
    const exit = this.exits.get(key);
    const notStarted = this.notStarted.get(key);
    if (exit || notStarted !== undefined) {
      onEnd(exit ? { exit } : { notStarted: notStarted! });
      return () => undefined;
    }
    if (!this.running.has(key)) return undefined;
    this.waiters.set(key, [...(this.waiters.get(key) ?? []), onEnd]);
    return () => {
      const rest = (this.waiters.get(key) ?? []).filter((w) => w !== onEnd);
      if (rest.length > 0) this.waiters.set(key, rest);
      else this.waiters.delete(key);
    };
  }

  /**
   * Stops (or kills) a running one-off; false when none runs under that name (and id). A run id
   * this agent does not know yet, or a run that did not start, is never started afterwards.
   */
  stop(app: string, instance: string, kill = false, runId = ''): boolean {
    const key = this.resolve(app, instance, runId);
    const run = this.running.get(key);
    run?.stop(kill ? 'kill' : 'request');
    // A run that did not start stays so: WatchRun still says why, a start of it is refused.
    if (!run && (this.notStarted.has(key) || (runId && !this.exits.has(key)))) this.refuse(key);
    return run !== undefined;
  }


  private refuse(key: string): void {
    this.refused.add(key);
    if (this.refused.size > REMEMBERED_EXITS) this.refused.delete(this.refused.values().next().value!);
  }

  /**
   * Stops every one-off process of an app (`apps:destroy`), those still launching as soon as
   * they are attached; returns their names.
   */
  stopApp(app: string): string[] {
    const prefix = `${app}/`;
    const stopped: string[] = [];
    for (const [key, run] of this.running) {
      if (!key.startsWith(prefix)) continue;
      run.stop('app-destroyed');
      stopped.push(key.slice(prefix.length, key.lastIndexOf('#')));
    }
    for (const key of this.notStarted.keys()) if (key.startsWith(prefix)) this.refuse(key);
    return stopped;
  }

  /**
   * Stops every run, and every run launched from now on (the agent is stopping); resolves once
   * all of them have ended, including those still launching (true), or after `timeoutMs` (false).
   */
  stopAll(reason: 'agent-stop' | 'agent-restart', timeoutMs: number): Promise<boolean> {
    this.stoppingAll = reason;
    const ends = [...this.running.entries()].map(([key, run]) => {
      const ended = new Promise<void>((resolve) => this.waiters.set(key, [...(this.waiters.get(key) ?? []), () => resolve()]));
      run.stop(reason);
      return ended;
    });
    // Bounded: a process stuck in the kernel, or output a vanished caller never reads, must not keep the agent.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    return Promise.race([Promise.all(ends).then(() => true), late]).finally(() => clearTimeout(timer));
  }
}
