/**
 * The last `n` lines of a stream, holding at most `maxText` UTF-16 units of text: past either
 * bound the oldest go. `cluster logs -n N` of several hosts keeps the tail of their merged
 * history here, so it holds N lines however many hosts send N each.
 */
export class TailRing<T extends { text: string }> {
  private items: Array<T | undefined> = [];
  /** Index of the oldest line kept. */
  private head = 0;
  private text = 0;
  private seen = 0;

  constructor(private readonly n: number, private readonly maxText: number) {}

  push(line: T): void {
    this.seen += 1;
    if (this.n <= 0) return;
    this.items.push(line);
    this.text += line.text.length;
    while (this.size > this.n || (this.text > this.maxText && this.size > 1)) {
      this.text -= this.items[this.head]!.text.length;
      this.items[this.head] = undefined; // gone: its text must not stay referenced until a compaction
      this.head += 1;
    }
    if (this.head > 4_096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** How many lines the tail should have had: fewer are kept when the text bound cut it. */
  get asked(): number {
    return Math.min(this.n, this.seen);
  }

  /** The lines kept, oldest first (the ring is emptied). */
  take(): T[] {
    const out = (this.head === 0 ? this.items : this.items.slice(this.head)) as T[];
    this.items = [];
    this.head = 0;
    this.text = 0;
    return out;
  }
}
