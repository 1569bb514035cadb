/**
 * Input backpressure for a relayed stream (`cluster run`'s stdin): the stream that brings the
 * input is paused while anything it feeds is full, and resumed once nothing holds it any more.
 * Each hold has a name, so that two reasons (a full pipe, input kept while a host is chosen)
 * never resume the stream under each other.
 */
interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

interface Drainable {
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

export class ReadGate {
  private readonly holds = new Set<string>();

  constructor(private readonly source: Pausable) {}

  get held(): boolean {
    return this.holds.size > 0;
  }

  hold(reason: string): void {
    if (this.holds.size === 0) this.source.pause();
    this.holds.add(reason);
  }

  release(reason: string): void {
    if (!this.holds.delete(reason) || this.holds.size > 0) return;
    this.source.resume();
  }

  /**
   * Holds the source until `sink` drains, or closes (a process that exited or closed its
   * stdin takes no more: what follows is dropped, as before, rather than waited for).
   */
  holdUntilDrained(reason: string, sink: Drainable): void {
    if (this.holds.has(reason)) return;
    this.hold(reason);
    const done = () => {
      sink.off('drain', done);
      sink.off('close', done);
      this.release(reason);
    };
    sink.once('drain', done);
    sink.once('close', done);
  }
}
