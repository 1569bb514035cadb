/**
 * The histories of several hosts merged by time as they stream in, in bounded memory.
 *
 * Each host sends its lines in its own order (time order for each instance). A line is let out
 * only once every host still sending has a line queued, the smallest first (compareLines), so
 * what comes out never needs reordering and each host's lines keep their host's order. A host
 * whose queue reaches `maxQueued` lines is paused until the merge has taken half of them: a
 * host that streams quickly waits for a slow one instead of piling up here; so is one whose
 * queued text reaches `maxQueuedText` (long lines). What the merge holds is then about
 * `maxQueued` lines or `maxQueuedText` of text a host (plus one batch), whatever `-n` asks.
 */
import { compareLines, type OrderedLine } from './merge';

export interface MergeHooks<T> {
  /** Lines let out, in merged order: what one pass of the merge could take. */
  out(lines: T[]): void;
  /** Stop reading this host: its queue is full. */
  pause(host: string): void;
  /** Read this host again: the merge has taken half of its queue. */
  resume(host: string): void;
}

interface HostQueue<T> {
  host: string;
  lines: T[];
  /** Index of the first line not yet let out. */
  head: number;
  /** Text of the lines queued (UTF-16 units). */
  text: number;
  ended: boolean;
  paused: boolean;
}

/** Default queue bounds per host: a few of an agent's batches, and 4 Mi UTF-16 units of text. */
export const MAX_QUEUED_LINES = 4_096;
export const MAX_QUEUED_TEXT = 4 * 1024 * 1024;

export class HistoryMerge<T extends OrderedLine & { text: string }> {
  private readonly queues = new Map<string, HostQueue<T>>();
  /** Hosts with lines queued, as a binary heap on their first line. */
  private readonly heap: HostQueue<T>[] = [];
  /** Hosts still sending with nothing queued: nothing can be let out until they send or end. */
  private waiting = 0;
  private draining = false;

  constructor(
    private readonly hooks: MergeHooks<T>,
    private readonly maxQueued = MAX_QUEUED_LINES,
    private readonly maxQueuedText = MAX_QUEUED_TEXT,
  ) {}

  /** A host whose history is to come: the merge waits for its lines (or its end) from now on. */
  add(host: string): void {
    if (this.queues.has(host)) return;
    this.queues.set(host, { host, lines: [], head: 0, text: 0, ended: false, paused: false });
    this.waiting += 1;
  }

  /** More of a host's history, in its order. Lines of a host not added, or already ended, are ignored. */
  push(host: string, lines: readonly T[]): void {
    const q = this.queues.get(host);
    if (!q || q.ended || lines.length === 0) return;
    const wasEmpty = queued(q) === 0;
    if (q.head > 1024 && q.head * 2 > q.lines.length) {
      q.lines = q.lines.slice(q.head);
      q.head = 0;
    }
    for (const line of lines) {
      q.lines.push(line);
      q.text += line.text.length;
    }
    if (wasEmpty) {
      this.waiting -= 1;
      this.heapPush(q);
    }
    if (!q.paused && (queued(q) >= this.maxQueued || q.text >= this.maxQueuedText)) {
      q.paused = true;
      this.hooks.pause(host);
    }
    this.drain();
  }

  /** A host's history is complete (or it will send no more of it): what it queued still comes out. */
  end(host: string): void {
    const q = this.queues.get(host);
    if (!q || q.ended) return;
    q.ended = true;
    if (queued(q) === 0) this.waiting -= 1;
    if (q.paused) {
      q.paused = false;
      this.hooks.resume(host);
    }
    this.drain();
  }

  /** Every host added has ended and every line has been let out. */
  get done(): boolean {
    return this.heap.length === 0 && [...this.queues.values()].every((q) => q.ended);
  }

  private drain(): void {
    // A hook that feeds the merge again (a resumed host sending at once) is taken by the running pass.
    if (this.draining) return;
    this.draining = true;
    try {
      const taken: T[] = [];
      while (this.waiting === 0 && this.heap.length > 0) {
        const q = this.heap[0]!;
        const line = q.lines[q.head]!;
        taken.push(line);
        q.text -= line.text.length;
        q.head += 1;
        if (queued(q) === 0) {
          q.lines = [];
          q.head = 0;
          this.heapPopFirst();
          if (!q.ended) this.waiting += 1;
        } else {
          this.siftDown(0);
        }
        if (q.paused && queued(q) * 2 <= this.maxQueued && q.text * 2 <= this.maxQueuedText) {
          q.paused = false;
          this.hooks.resume(q.host);
        }
      }
      if (taken.length > 0) this.hooks.out(taken);
    } finally {
      this.draining = false;
    }
  }

  private before(a: HostQueue<T>, b: HostQueue<T>): boolean {
    return compareLines(a.lines[a.head]!, b.lines[b.head]!) < 0;
  }

  private heapPush(q: HostQueue<T>): void {
    const heap = this.heap;
    heap.push(q);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private heapPopFirst(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.siftDown(0);
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < heap.length && this.before(heap[left]!, heap[first]!)) first = left;
      if (right < heap.length && this.before(heap[right]!, heap[first]!)) first = right;
      if (first === i) return;
      [heap[i], heap[first]] = [heap[first]!, heap[i]!];
      i = first;
    }
  }
}

function queued<T>(q: HostQueue<T>): number {
  return q.lines.length - q.head;
}
