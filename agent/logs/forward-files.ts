/**
 * The files of one instance a forward reader (forward-reader.ts) reads, oldest first, opened.
 *
 * Eager (the default), the first file asked for opens every file that holds lines after
 * `afterSeq`, so rotation cannot take them away while the reader reads: a deleted file stays
 * readable through its open handle (the disk space comes back when the reader closes it). Lazy
 * (many instances at once: one handle each is enough), one file is opened at a time, and
 * rotation may take files before they are reached. Either way, what rotation deleted is told to
 * `noteGone` as the ordinal through which every line is gone (the files carry their ordinals,
 * disk-writer.ts).
 */
import * as fs from 'node:fs';
import type { DiskWriter, LogFile } from './disk-writer';

export interface OpenFile {
  file: LogFile;
  handle: fs.promises.FileHandle;
}

export class ForwardFiles {
  /** The file being read. */
  current: OpenFile | undefined;
  private closed = false;
  /** Eager: every file to read, opened; lazy: undefined. */
  private open: OpenFile[] | undefined;
  /** The last file taken up (lazy mode: the next is the first newer one). */
  private lastGen = -1;

  constructor(
    private readonly writer: DiskWriter,
    private readonly afterSeq: number,
    private readonly eager: boolean,
    private readonly noteGone: (goneThrough: number) => void,
  ) {}

  /** Takes up the next file to read, open (`current`); undefined when there is none. */
  async next(): Promise<OpenFile | undefined> {
    this.current = await (this.eager ? this.nextOpened() : this.openNext());
    return this.current;
  }

  /** Closes the file being read (it is read to its end). */
  async closeCurrent(): Promise<void> {
    const f = this.current;
    this.current = undefined;
    await f?.handle.close().catch(() => undefined);
  }

  /** Closes every file (no more are taken up). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...(this.open ?? []), ...(this.current ? [this.current] : [])];
    this.open = [];
    this.current = undefined;
    await closeAll(all);
  }

  /** Eager: the next of the files opened at the first call. */
  private async nextOpened(): Promise<OpenFile | undefined> {
    if (this.open === undefined) {
      const opened = await this.openAll();
      // Closed while opening: close() saw none of these handles.
      if (this.closed) {
        await closeAll(opened);
        return undefined;
      }
      this.open = opened;
    }
    return this.open.shift();
  }

  /** Lazy: opens the first file newer than the last one taken up. */
  private async openNext(): Promise<OpenFile | undefined> {
    for (;;) {
      const next = this.writer.files.find((f) => (this.lastGen < 0 ? f.lastSeq > this.afterSeq : f.gen > this.lastGen));
      this.noteGone(this.writer.deletedThroughN);
      if (next === undefined) return undefined;
      this.lastGen = next.gen;
      try {
        const handle = await fs.promises.open(this.writer.filePath(next.gen), 'r');
        if (this.closed) {
          await handle.close().catch(() => undefined);
          return undefined;
        }
        // Deleted between the look and the open? Then its lines count as rotated away.
        this.noteGone(this.writer.deletedThroughN);
        return { file: next, handle };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }

  /** Opens every file with wanted lines (all at once), oldest first; what rotation took before is told once. */
  private async openAll(): Promise<OpenFile[]> {
    const files = this.writer.files.filter((f) => f.lastSeq > this.afterSeq);
    let goneThrough = this.writer.deletedThroughN;
    const results = await Promise.allSettled(files.map((file) => fs.promises.open(this.writer.filePath(file.gen), 'r')));
    const opened: OpenFile[] = [];
    let failure: Error | undefined;
    results.forEach((result, i) => {
      const file = files[i]!;
      if (result.status === 'fulfilled') opened.push({ file, handle: result.value });
      else if ((result.reason as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= result.reason as Error;
      // Rotation deletes oldest first: this file and every older one are gone.
      else if (file.lastN > goneThrough) goneThrough = file.lastN;
    });
    if (failure !== undefined) {
      await closeAll(opened);
      throw failure;
    }
    // An older file opened while a newer one was gone (deleted between the two opens): its lines count as gone too.
    const kept = opened.filter((f) => f.file.lastN === 0 || f.file.lastN > goneThrough);
    await closeAll(opened.filter((f) => !kept.includes(f)));
    this.noteGone(goneThrough);
    return kept;
  }
}

/** Closing read-only handles: a failure loses nothing and has nobody to tell. */
function closeAll(files: OpenFile[]): Promise<unknown> {
  return Promise.all(files.map((f) => f.handle.close().catch(() => undefined)));
}
