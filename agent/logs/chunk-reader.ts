/**
 * One open log file read forward a chunk at a time (constant memory whatever the file holds),
 * into one buffer that is read into again and again; a line cut by the end of a chunk is carried
 * to the start of the next. A forward reader (forward-reader.ts) reads its files with it.
 */
import type * as fs from 'node:fs';
import type { LogFile } from './disk-writer';
import { markAtOrBefore } from './log-files';

const CHUNK = 256 * 1024;
const LF = 0x0a;
/** A "line" longer than this has no place in our files (lines are ≤16 KiB): skip it as garbage. */
const MAX_LINE = 1024 * 1024;

export class ChunkReader {
  /** The chunk read last; its bytes [carryStart, carryEnd) are the start of a line not read whole yet. */
  buf: Buffer | undefined;
  private handle: fs.promises.FileHandle | undefined;
  private offset = 0;
  private carryStart = 0;
  private carryEnd = 0;

  /**
   * Starts on a file. Lines before the last mark at or before `afterSeq` are all older: reading
   * starts there. Returns the run index of the line it starts at (for ordinals; 0: the top).
   */
  start(file: LogFile, handle: fs.promises.FileHandle, afterSeq: number): number {
    this.handle = handle;
    this.offset = 0;
    this.carryStart = this.carryEnd = 0;
    const mark = markAtOrBefore(file, afterSeq);
    if (mark === undefined || file.firstN <= 0) return 0;
    this.offset = mark.offset;
    return mark.n - file.firstN;
  }

  /**
   * Reads the next chunk of the file; `lent`: a line of the last chunk holds on to `buf`, so the
   * chunk goes into a new one. Returns where the whole lines read end (buf[0, end)); 0 when no
   * line is whole yet; -1 at the end of the file.
   */
  async read(lent: boolean): Promise<number> {
    const carry = this.carryEnd - this.carryStart;
    let buf = this.buf;
    if (buf === undefined || lent || buf.length < carry + CHUNK) {
      // A buffer of its own, read into again and again (each new one is memory outside the heap, docs/stack-notes.md).
      const fresh = Buffer.allocUnsafeSlow(CHUNK + Math.max(carry, 64 * 1024));
      if (buf !== undefined && carry > 0) buf.copy(fresh, 0, this.carryStart, this.carryEnd);
      buf = this.buf = fresh;
    } else if (carry > 0) {
      buf.copyWithin(0, this.carryStart, this.carryEnd);
    }
    this.carryStart = this.carryEnd = 0;
    const { bytesRead } = await this.handle!.read(buf, carry, CHUNK, this.offset);
    this.offset += bytesRead;
    // End of this file: an unterminated rest is a write in progress (after maxSeq) or torn.
    if (bytesRead === 0) return -1;
    const end = carry + bytesRead;
    const lastNl = buf.lastIndexOf(LF, end - 1);
    if (lastNl === -1) {
      if (end <= MAX_LINE) this.carryEnd = end;
      return 0;
    }
    this.carryStart = lastNl + 1;
    this.carryEnd = end;
    return lastNl + 1;
  }
}
