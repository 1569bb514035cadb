/**
 * Spare buffers for the disk writers, so a busy store does not allocate one per write: 64 KiB
 * chunks that pending lines are encoded into, and larger batch buffers that a write of several
 * chunks is gathered into (a busy writer writes up to WRITE_AT_BYTES and more at once, see
 * disk-writer.ts). Each buffer allocated counts towards V8's external memory, whose growth
 * starts full collections (docs/stack-notes.md).
 */
import { FLUSH_BYTES } from './disk-writer';

const POOL = 32;
/** A batch of several chunks is gathered into one of these when it fits. */
export const BATCH_BYTES = 512 * 1024;
const BATCH_POOL = 4;

export class ChunkPool {
  private readonly spare: Buffer[] = [];
  private readonly spareBatches: Buffer[] = [];

  /** A buffer of at least `min` bytes. */
  take(min: number): Buffer {
    if (min <= FLUSH_BYTES) return this.spare.pop() ?? Buffer.allocUnsafeSlow(FLUSH_BYTES);
    if (min <= BATCH_BYTES) return this.spareBatches.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
    return Buffer.allocUnsafeSlow(min);
  }

  /** Gives back a buffer (or a view of one) whose bytes are no longer needed. */
  release(chunk: Buffer): void {
    // Views of a pooled buffer start at its beginning; the pool keeps the whole buffer.
    const size = chunk.buffer.byteLength;
    if (size === FLUSH_BYTES && this.spare.length < POOL) this.spare.push(Buffer.from(chunk.buffer, 0, FLUSH_BYTES));
    else if (size === BATCH_BYTES && this.spareBatches.length < BATCH_POOL) this.spareBatches.push(Buffer.from(chunk.buffer, 0, BATCH_BYTES));
  }
}
