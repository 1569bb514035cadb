/**
 * Reading a log follower's output (`cluster logs --tail --json`, or `pm2 logs --raw`) as
 * it arrives: lines per writer, gaps in their sequence numbers, lines the follower was
 * told it missed, and the delay from print (the time inside the line) to arrival here.
 */
import type { Readable } from 'node:stream';

const MAX_DELAY_MS = 120_000;

interface WriterState {
  next: number;
  received: number;
  gaps: number;
  outOfOrder: number;
  lastMs: number;
}

export interface DeliveryFigures {
  received: number;
  /** Lines missing from the per-writer sequences (between lines that arrived). */
  gaps: number;
  /** Lines the follower was told it missed ("N lines missed (reader too slow)"). */
  markedMissed: number;
  /** Printed lines that did not arrive, less those the follower was told about. */
  lostUnmarked: number;
  outOfOrder: number;
  /** Lines that were not whole writer lines (e.g. a line split in two). */
  damaged: number;
  firstPrintMs: number;
  lastPrintMs: number;
  lastArrivalMs: number;
  p50: number;
  p99: number;
  max: number;
}

/** Per 250 ms of print time (the slot: ms / 250): lines, their largest delay, and the largest part of a delay before capture. */
export type Timeline = Map<number, { lines: number; maxMs: number; maxCaptureMs: number }>;

export class DeliveryReader {
  readonly writers = new Map<string, WriterState>();
  readonly hellos = new Set<string>();
  private readonly delays = new Uint32Array(MAX_DELAY_MS + 1);
  private rest = '';
  received = 0;
  markedMissed = 0;
  damaged = 0;
  firstPrintMs = Infinity;
  lastPrintMs = 0;
  lastArrivalMs = 0;
  private counting = false;
  /** With `--timeline`: per 250 ms of print time, lines and their largest delay (it parses each line's capture time too). */
  timeline: Timeline | undefined;

  /** `json`: lines are `cluster logs --json` objects; otherwise the raw line text. */
  constructor(stream: Readable, private readonly json: boolean) {
    stream.setEncoding('latin1');
    stream.on('data', (chunk: string) => this.onData(chunk));
  }

  /** True when the last line of every writer in `ids` (of `lines` each) arrived. */
  sawLast(ids: string[], lines: number): boolean {
    return ids.every((id) => (this.writers.get(id)?.next ?? 0) >= lines);
  }

  /** From now on, writer lines count (hello lines before are only noted). */
  startCounting(): void {
    this.counting = true;
  }

  private onData(chunk: string): void {
    const now = Date.now();
    const text = this.rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      this.onLine(text, start, nl, now);
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  private onLine(s: string, start: number, end: number, now: number): void {
    let at = start;
    if (this.json) {
      const key = s.indexOf('"line":"', start);
      if (key === -1 || key > end) return;
      at = key + 8;
      if (s.charCodeAt(at) !== 0x40 /* @ */) {
        const stream = s.indexOf('"stream":"system"', start);
        if (stream !== -1 && stream < end) {
          const m = /^(\d+) lines? (?:missed \((?:reader too slow|removed by log rotation)|not written to disk)/.exec(s.slice(at, end));
          if (m) this.markedMissed += Number(m[1]);
        }
        return;
      }
    } else if (s.charCodeAt(at) !== 0x40) {
      if (this.counting) this.damaged++;
      return;
    }
    const space = s.indexOf(' ', at);
    if (space === -1 || space > end) return;
    const id = s.slice(at + 1, space);
    if (s.startsWith('hello', space + 1)) {
      this.hellos.add(id);
      return;
    }
    if (!this.counting) return;
    const seq = num(s, space + 1, 9);
    const ms = num(s, space + 11, 13);
    // A raw line must be exactly the writer's 99 characters.
    if (seq < 0 || ms < 0 || (!this.json && end - start !== 99)) {
      this.damaged++;
      return;
    }
    let w = this.writers.get(id);
    if (w === undefined) {
      w = { next: 0, received: 0, gaps: 0, outOfOrder: 0, lastMs: 0 };
      this.writers.set(id, w);
    }
    if (seq < w.next) w.outOfOrder++;
    else {
      w.gaps += seq - w.next;
      w.next = seq + 1;
    }
    w.received++;
    this.received++;
    if (ms < this.firstPrintMs) this.firstPrintMs = ms;
    if (ms > this.lastPrintMs) this.lastPrintMs = ms;
    this.lastArrivalMs = now;
    this.delays[Math.max(0, Math.min(MAX_DELAY_MS, now - ms))]++;
    if (this.timeline) this.noteTimeline(this.timeline, s, start, ms, now);
  }

  /** Per 250 ms of print time: the largest delay, and of it the part until the agent captured the line (its `time`). */
  private noteTimeline(timeline: Timeline, s: string, start: number, ms: number, now: number): void {
    const slot = Math.floor(ms / 250);
    const at = this.json ? s.indexOf('"time":"', start) : -1;
    const captureMs = at === -1 ? 0 : Date.parse(s.slice(at + 8, at + 32)) - ms;
    const t = timeline.get(slot);
    if (t === undefined) timeline.set(slot, { lines: 1, maxMs: now - ms, maxCaptureMs: captureMs });
    else {
      t.lines++;
      if (now - ms > t.maxMs) t.maxMs = now - ms;
      if (captureMs > t.maxCaptureMs) t.maxCaptureMs = captureMs;
    }
  }

  /** `printed`: the writer lines printed in all. */
  figures(printed: number): DeliveryFigures {
    let gaps = 0;
    let outOfOrder = 0;
    for (const w of this.writers.values()) {
      gaps += w.gaps;
      outOfOrder += w.outOfOrder;
    }
    return {
      received: this.received,
      gaps,
      markedMissed: this.markedMissed,
      lostUnmarked: Math.max(0, printed - this.received - this.markedMissed),
      outOfOrder,
      damaged: this.damaged,
      firstPrintMs: this.firstPrintMs,
      lastPrintMs: this.lastPrintMs,
      lastArrivalMs: this.lastArrivalMs,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: this.quantile(1),
    };
  }

  private quantile(q: number): number {
    const target = Math.max(1, Math.ceil(q * this.received));
    let seen = 0;
    for (let ms = 0; ms <= MAX_DELAY_MS; ms++) {
      seen += this.delays[ms]!;
      if (seen >= target) return ms;
    }
    return NaN;
  }
}

function num(s: string, off: number, n: number): number {
  let v = 0;
  for (let i = off; i < off + n; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The largest delay of the lines printed in each 250 ms, on stderr: `+0.25s 1,234 lines, max 56 ms`. */
export function printTimeline(timeline: Timeline): void {
  const slots = [...timeline.keys()].sort((a, b) => a - b);
  const first = slots[0] ?? 0;
  for (const slot of slots) {
    const t = timeline.get(slot)!;
    console.error(`  +${((slot - first) / 4).toFixed(2)}s ${t.lines.toLocaleString('en-US')} lines, max ${t.maxMs} ms (until captured: ${t.maxCaptureMs} ms)`);
  }
}
