/** Spare 64 KiB chunks for the disk writers' pending lines, so a busy store does not allocate one per 64 KiB. */
import { FLUSH_BYTES } from './disk-writer';

const POOL = 32;

export class ChunkPool {
  private readonly spare: Buffer[] = [];

  /** A chunk of at least `min` bytes. */
  take(min: number): Buffer {
    if (min <= FLUSH_BYTES) return this.spare.pop() ?? Buffer.allocUnsafeSlow(FLUSH_BYTES);
    return Buffer.allocUnsafeSlow(min);
  }

  /** Gives back a chunk (or a view of one) whose bytes are no longer needed. */
  release(chunk: Buffer): void {
    // Views of a pooled chunk start at its beginning; the pool keeps the whole chunk.
    if (chunk.buffer.byteLength !== FLUSH_BYTES || this.spare.length >= POOL) return;
    this.spare.push(Buffer.from(chunk.buffer, 0, FLUSH_BYTES));
  }
}
