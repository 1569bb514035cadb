/**
 * One instance's lines: the memory tail, the live readers that follow it, and its files on
 * disk (disk-writer.ts). It is also the instance's output gate: in blocking mode (the default
 * for instances the reconciler runs) the pipe reader stops reading while the disk writer is
 * behind, so nothing is dropped and memory stays bounded. See docs/logs.md.
 */
import type { Logger } from '../../lib/log';
import type { LogLine } from './log-line';
import { DiskWriter, type LogFile, type WriterShared } from './disk-writer';
import { droppedText, type GapCause } from './drop-marker';
import type { QueuedCursor } from './live-cursor';
import { MemoryTail } from './memory-tail';

export { FLUSH_BYTES, NO_LINES, type LogFile, type LogStoreStats } from './disk-writer';

/** What the pipe reader of an instance asks before reading more (see agent/supervisor/child-process.ts). */
export interface OutputGate {
  /** True when reading must pause: the disk writer is behind and the instance blocks rather than drops. */
  blocked(): boolean;
  /** Calls `resume` once (when no longer blocked). */
  whenOpen(resume: () => void): void;
}

/** What instances share with their store beyond the writer's part. */
export interface StoreShared extends WriterShared {
  readonly memoryLinesPerInstance: number;
  readonly memoryCharsPerInstance: number;
  readonly logger: Logger;
  /** Takes the store's next seq (for a line the store makes itself: a gap's marker). */
  nextSeq(): number;
  /** An instance has readers waiting for its gate to open. */
  waitForGate(inst: InstanceLog): void;
}

export class InstanceLog implements OutputGate {
  /** Time of the newest line; a new line never gets an earlier one. */
  lastTime = 0;
  /** Clock time of the newest line (for idle clean-up). */
  lastActiveMs = 0;

  /** The time for lines stored now: the clock, never earlier than the newest line's. */
  stampNow(): number {
    const now = Date.now();
    if (now > this.lastTime) this.lastTime = now;
    this.lastActiveMs = this.lastTime;
    return this.lastTime;
  }
  /** Live readers whose filter matches this instance. */
  cursors: QueuedCursor[] = [];
  readonly tail: MemoryTail;
  readonly writer: DiskWriter;
  private resumers: Array<() => void> = [];

  constructor(
    private readonly shared: StoreShared,
    readonly app: string,
    readonly instance: string,
    readonly dir: string,
    files: LogFile[],
    appendToLast: boolean,
  ) {
    this.tail = new MemoryTail(shared.memoryLinesPerInstance, shared.memoryCharsPerInstance, files.every((f) => f.bytes === 0));
    this.writer = new DiskWriter(shared, app, instance, dir, files, appendToLast, (count, cause) => this.markGap(count, cause));
  }

  get files(): LogFile[] {
    return this.writer.files;
  }

  /** Takes a new line: memory tail, disk, live readers. Hot path: no promises, no timers. */
  add(line: LogLine): void {
    this.tail.add(line);
    line.n = this.writer.enqueue(line);
    const cursors = this.cursors;
    for (let i = 0; i < cursors.length; i++) cursors[i]!.push(line);
  }

  /**
   * The marker of a gap the disk writer left (non-blocking, writes behind) ends it: a line of
   * its own with the next seq, after every line it counts, in the files, the memory tail and
   * at every live reader, so each reader meets it once wherever it reads (docs/logs.md).
   */
  private markGap(count: number, cause: GapCause): void {
    const line: LogLine = { timeMs: this.stampNow(), seq: this.shared.nextSeq(), app: this.app, instance: this.instance, stream: 'system', text: droppedText(count, cause), cut: false, n: 0 };
    this.tail.add(line);
    line.n = this.writer.queueMarker(line);
    const cursors = this.cursors;
    for (let i = 0; i < cursors.length; i++) cursors[i]!.push(line);
  }

  /**
   * Blocking (the default for instances the agent runs) or non-blocking (`ps:logs TYPE=non-blocking`):
   * a process type's log mode. An instance never given one is a one-off's (DiskWriter.oneOff).
   */
  setBlocking(blocking: boolean): void {
    this.writer.blocking = blocking;
    this.writer.oneOff = false;
    if (!blocking) this.openGate();
  }

  blocked(): boolean {
    return this.writer.blocking && this.writer.backlogged;
  }

  whenOpen(resume: () => void): void {
    if (!this.blocked()) return resume();
    this.resumers.push(resume);
    this.shared.waitForGate(this);
  }

  /** Resumes the readers that waited, unless still blocked; true when none is left waiting. */
  openGate(): boolean {
    if (this.resumers.length === 0) return true;
    if (this.blocked()) return false;
    const resumers = this.resumers;
    this.resumers = [];
    for (const resume of resumers) resume();
    return true;
  }

  /** True when nothing of this instance is left anywhere: the store can forget it. */
  isEmpty(): boolean {
    return this.writer.files.length === 0 && this.tail.length === 0 && this.cursors.length === 0 && this.writer.idle && this.resumers.length === 0;
  }

  /** Frees what an idle instance holds: its open file, and after a longer while its memory tail. */
  sweep(now: number, closeFileAfterMs: number, dropTailAfterMs: number): void {
    const idle = now - this.lastActiveMs;
    if (idle > closeFileAfterMs) this.writer.closeIfIdle();
    if (idle > dropTailAfterMs && this.tail.length > 0 && this.cursors.length === 0) this.tail.clear();
  }
}
