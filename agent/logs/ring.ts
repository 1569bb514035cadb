/** A bounded FIFO of lines that grows on demand up to its capacity and counts the text it holds. */
import { textLength, type LogLine } from './log-line';

export class LineRing {
  private buf: Array<LogLine | undefined>;
  private head = 0;
  /** Lines held. */
  length = 0;
  /** Sum of the text sizes of the lines held (textLength: bytes, or UTF-16 units for a string). */
  chars = 0;

  readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.buf = new Array<LogLine | undefined>(Math.min(this.capacity, 64));
  }

  /** Adds a line at the end; when full, first removes and returns the oldest. */
  push(line: LogLine): LogLine | undefined {
    let evicted: LogLine | undefined;
    if (this.length === this.buf.length) {
      if (this.length < this.capacity) this.grow();
      else evicted = this.shift();
    }
    let i = this.head + this.length;
    if (i >= this.buf.length) i -= this.buf.length;
    this.buf[i] = line;
    this.length++;
    this.chars += textLength(line);
    return evicted;
  }

  /** Removes and returns the oldest line. */
  shift(): LogLine | undefined {
    if (this.length === 0) return undefined;
    const line = this.buf[this.head] as LogLine;
    this.buf[this.head] = undefined;
    this.head = this.head + 1 === this.buf.length ? 0 : this.head + 1;
    this.length--;
    this.chars -= textLength(line);
    return line;
  }

  /** The newest `n` lines (all when fewer), oldest first. */
  last(n: number): LogLine[] {
    const count = Math.min(n, this.length);
    const out = new Array<LogLine>(count);
    let i = this.head + this.length - count;
    for (let k = 0; k < count; k++, i++) out[k] = this.buf[i % this.buf.length] as LogLine;
    return out;
  }

  /** The newest `n` lines that `keep` accepts (all of them when fewer), oldest first. */
  lastMatching(n: number, keep: (line: LogLine) => boolean): LogLine[] {
    const newestFirst: LogLine[] = [];
    for (let k = this.length - 1; k >= 0 && newestFirst.length < n; k--) {
      const line = this.buf[(this.head + k) % this.buf.length] as LogLine;
      if (keep(line)) newestFirst.push(line);
    }
    return newestFirst.reverse();
  }

  /** Drops every line and gives back the memory. */
  clear(): void {
    this.buf = new Array<LogLine | undefined>(Math.min(this.capacity, 64));
    this.head = 0;
    this.length = 0;
    this.chars = 0;
  }

  private grow(): void {
    const next = new Array<LogLine | undefined>(Math.min(this.capacity, this.buf.length * 2));
    for (let k = 0; k < this.length; k++) next[k] = this.buf[(this.head + k) % this.buf.length];
    this.buf = next;
    this.head = 0;
  }
}
