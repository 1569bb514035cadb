/**
 * Keeps the agent's event loop turning while processes flood their output.
 *
 * libuv reads a pipe that has data up to 32 times in a row (64 KiB each) before it looks at
 * anything else, and every read is split, stored and queued for the disk at once. A process
 * printing as fast as it can therefore held the agent's loop for 250–600 ms a turn on a busy
 * machine: heartbeats went out late and the control plane let the agent's lease expire and
 * restarted its instances (docs/logs.md, "Capture").
 *
 * So reading output has a share of each turn: once the reads of this turn took `turnMs`, a pipe
 * that delivers more is paused and resumed on the next turn (setImmediate: after the timers
 * and other I/O of that turn had their go). What the pipes hold waits in the kernel meanwhile;
 * nothing is lost, and a process that writes faster than the agent reads waits in write().
 */
export class OutputTurns {
  /** The clock at this turn's first read; undefined when nothing was read this turn. */
  private turnStart: number | undefined;
  private held: (() => void)[] = [];
  /** Turns that ran out of time. */
  yields = 0;

  constructor(
    private readonly turnMs = DEFAULT_TURN_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Called before a read is handled: the first read of a turn starts the turn's clock. */
  beginRead(): void {
    if (this.turnStart !== undefined) return;
    this.turnStart = this.now();
    setImmediate(this.nextTurn);
  }

  /**
   * Called after a read was handled. Returns false while this turn has time left; else the
   * caller pauses its pipe, and `resume` is called on the next turn.
   */
  endRead(resume: () => void): boolean {
    if (this.turnStart === undefined || this.now() - this.turnStart < this.turnMs) return false;
    if (this.held.length === 0) this.yields++;
    this.held.push(resume);
    return true;
  }

  private readonly nextTurn = (): void => {
    this.turnStart = undefined;
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    for (const resume of held) resume();
  };
}

/** Reads of process output may take this much of a turn of the agent's loop. */
export const DEFAULT_TURN_MS = 20;

/** The agent's one loop: every pipe shares it. */
export const outputTurns = new OutputTurns();
