/**
 * A leader's periodic pass that never overlaps itself (the scheduled-jobs and release-phase
 * loops). `poke()` asks for a pass soon; one asked for while a pass runs follows it at once. A
 * pass returns how long to wait before the next (`everyMs` when it says nothing); a failed
 * pass is reported and tried again after about `retryMs` (±20 %, so replicas do not line up).
 */
import { jittered } from '../../lib/retry-delay';

export interface PassLoopOptions {
  everyMs: number;
  retryMs: number;
  onError(err: unknown): void;
}

export class PassLoop {
  private active = false;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly pass: () => Promise<number | void>, private readonly opts: PassLoopOptions) {}

  /** Whether passes are wanted (between start and stop): a long pass checks it to stop early. */
  get isActive(): boolean {
    return this.active;
  }

  /** Starts passing, the first pass at once; false when it already runs. */
  start(): boolean {
    if (this.active) return false;
    this.active = true;
    this.poke(0);
    return true;
  }

  /** Stops asking for passes and waits for the one in flight; false when it was not running. */
  async stop(): Promise<boolean> {
    if (!this.active) return false;
    this.active = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    return true;
  }

  /** Asks for a pass within `delayMs`. */
  poke(delayMs = 0): void {
    if (!this.active) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      let next = this.opts.everyMs;
      this.running = this.pass()
        .then((wait) => {
          if (typeof wait === 'number') next = wait;
        })
        .catch((err: unknown) => {
          this.opts.onError(err);
          next = jittered(this.opts.retryMs);
        })
        .finally(() => {
          this.running = undefined;
          const again = this.again;
          this.again = false;
          this.poke(again ? 0 : next);
        });
    }, Math.max(0, delayMs));
  }
}
