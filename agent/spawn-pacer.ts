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
