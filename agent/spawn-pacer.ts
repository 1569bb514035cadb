/**
 * Spreads a burst of process starts over many event-loop turns.
 *
 * Spawning is synchronous in Node (fork + exec happen on the main thread) and costs more the
 * larger the agent's memory: 7 ms a process for a small agent on a busy 2-core machine, 26 ms
 * at 150 MB. An agent handed 333 instances at once used to spawn them all in one turn and
 * froze for 2–9 s, longer than its lease TTL: heartbeats could not leave, the lease expired,
 * and the control plane moved the instances away (see docs/high-availability.md, "Spawn
 * bursts"). Here each turn spends at most `budgetMs` starting processes, then yields, so timers
 * (heartbeats) and I/O (assignments, status replies) run between two slices. The total rate
 * stays what the machine can do: only the latency of everything else changes.
 */
import { performance } from 'node:perf_hooks';

/** Time spent spawning in one event-loop turn before yielding to timers and I/O. */
export const DEFAULT_SPAWN_BUDGET_MS = 15;

export class SpawnPacer {
  private readonly queue: Array<() => void> = [];
  private scheduled = false;
  /** Time runSoon() spent spawning in this turn; reset by an immediate once the turn is over. */
  private spentMs = 0;
  private resetScheduled = false;

  constructor(private readonly budgetMs = DEFAULT_SPAWN_BUDGET_MS) {}

  /** Runs `fn` (which spawns) in a later turn, in arrival order; resolves with what it returns. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err);
        }
      });
      this.schedule();
    });
  }

  /**
   * Runs `fn` now when nothing waits and this turn has not spent its budget on spawning yet,
   * else in a later turn like run(). For a crash restart: one process that exits is restarted
   * without a turn of the event loop in between (a tenth of a restart), while a crash storm
   * still spawns at most `budgetMs` a turn. `fn` must not throw.
   */
  runSoon(fn: () => void): void {
    if (this.tryRunNow(fn)) return;
    this.queue.push(fn);
    this.schedule();
  }

  /**
   * runSoon() without the later turn: runs `fn` now and returns true when nothing waits and
   * this turn has spawning budget left; else runs nothing and returns false (the caller queues
   * it). A restart spawns first this way and does its bookkeeping after (supervisor/instance.ts).
   * `fn` must not throw.
   */
  tryRunNow(fn: () => void): boolean {
    if (this.queue.length > 0 || this.spentMs >= this.budgetMs) return false;
    const start = performance.now();
    try {
      fn();
    } finally {
      this.spentMs += performance.now() - start;
      if (!this.resetScheduled) {
        this.resetScheduled = true;
        setImmediate(() => {
          this.resetScheduled = false;
          this.spentMs = 0;
        });
      }
    }
    return true;
  }

  /** Starts waiting their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a microtask or setTimeout(0): timers and socket reads run before it again.
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    const start = performance.now();
    while (this.queue.length > 0) {
      this.queue.shift()!();
      if (performance.now() - start >= this.budgetMs) break;
    }
    if (this.queue.length > 0) this.schedule();
  }
}
