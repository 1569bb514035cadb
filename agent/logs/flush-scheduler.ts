/**
 * When disk writers write: at the end of the event-loop turn in which they got lines, all of
 * them at once, not on a timer. A line read from an instance's pipe is handed to the disk before
 * anything else happens, so an agent killed with -9 loses next to nothing (what was read is gone
 * from the pipe), and the lines of one turn still go in one write. A busy writer puts its next
 * write off until MIN_WRITE_GAP_MS after its last one (disk-writer.ts). See docs/logs.md (Capture).
 */
import type { DiskWriter } from './disk-writer';

/** What the scheduler needs of a writer: its dirty flag, and a call to start writing. */
export type FlushTarget = Pick<DiskWriter, 'dirty' | 'kick'>;

export class FlushScheduler {
  private dirty: FlushTarget[] = [];
  private timer: NodeJS.Immediate | undefined;
  private stopped = false;

  /** Schedules `writer` for the end of this turn; called once per turn by a writer that got lines. */
  markDirty(writer: FlushTarget): void {
    if (this.stopped) return;
    writer.dirty = true;
    this.dirty.push(writer);
    if (this.timer === undefined) this.timer = setImmediate(this.tick);
  }

  /** Schedules nothing more (the store is closing; its writers flush themselves). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearImmediate(this.timer);
    this.timer = undefined;
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const list = this.dirty;
    this.dirty = [];
    for (const writer of list) {
      writer.dirty = false;
      // A writer with a write in flight re-queues itself when that write ends.
      writer.kick();
    }
  };
}
