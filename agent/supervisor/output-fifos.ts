/**
 * The FIFOs an instance writes its stdout and stderr into (see spawnInstanceProcess): one pair
 * per instance slot under the agent's data dir, made once and kept across restarts of the
 * instance, so a restart costs no extra process. Node cannot make a FIFO, so `mkfifo` does,
 * for every slot that asked during one turn of the event loop at once (a burst of 300 starts
 * costs one `mkfifo`, not 300).
 *
 * The FIFOs of an instance that no longer runs here are kept a while (`retire`): when the same
 * instance comes back (scaled down then up again, moved back) its start needs no `mkfifo`, a
 * process the agent forks and waits for before the first spawn of a burst (40–80 ms on a busy
 * 2-core machine). A FIFO that some process still holds open for writing (a grandchild that
 * escaped its group) is never handed to a new process: it is replaced.
 */
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants, lstatSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';

/** How long the FIFOs of an instance gone from this agent are kept for its return. */
export const DEFAULT_RETIRED_KEEP_MS = 10 * 60_000;

/** The FIFO paths of one instance's stdout and stderr. */
export interface OutputFifos {
  stdout: string;
  stderr: string;
}

export class OutputFifoMaker {
  private pending: Array<{ paths: string[]; resolve: () => void; reject: (err: Error) => void }> = [];
  private scheduled = false;
  /** Instance dirs no longer in use, and since when (Date.now()). */
  private readonly retired = new Map<string, number>();
  /** Retired dirs being removed now: a start of the same instance waits for that first. */
  private readonly removing = new Map<string, Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly root: string,
    private readonly keepMs = DEFAULT_RETIRED_KEEP_MS,
  ) {}

  /** Where the FIFOs of an instance live (whether or not they exist yet). */
  pathsOf(app: string, instance: string): OutputFifos {
    const dir = this.dirOf(app, instance);
    return { stdout: path.join(dir, 'stdout'), stderr: path.join(dir, 'stderr') };
  }

  /**
   * Makes the FIFOs of an instance, or reuses those it had (no process of its own runs: its
   * FIFOs are ours to hand out again unless an escaped process still writes into one).
   */
  async make(app: string, instance: string): Promise<OutputFifos> {
    const dir = this.dirOf(app, instance);
    this.retired.delete(dir);
    const removal = this.removing.get(dir);
    if (removal) await removal;
    const fifos = this.pathsOf(app, instance);
    const missing = [fifos.stdout, fifos.stderr].filter((p) => !isFifo(p) || hasWriter(p));
    if (missing.length === 0) return fifos;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const p of missing) rmSync(p, { force: true }); // not a FIFO (a crash left a file?), or still written into: replace it
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ paths: missing, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
    return fifos;
  }

  /** The instance no longer runs here: its FIFOs are removed after `keepMs` unless it comes back. */
  retire(app: string, instance: string): void {
    this.retired.set(this.dirOf(app, instance), Date.now());
    if (this.sweepTimer) return;
    this.sweepTimer = setTimeout(() => this.sweep(), Math.min(this.keepMs, 60_000));
    this.sweepTimer.unref(); // the next agent run finds them, as after a crash
  }

  /** Instance dirs retired and not removed yet (for tests). */
  get retiredCount(): number {
    return this.retired.size;
  }

  /** Stops the sweep timer (the agent is shutting down; what is retired stays on disk). */
  close(): void {
    clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    const now = Date.now();
    for (const [dir, since] of this.retired) {
      if (now - since < this.keepMs) continue;
      this.retired.delete(dir);
      const removal = rm(dir, { recursive: true, force: true })
        .catch(() => undefined) // gone already, or unremovable: nothing runs from it
        .finally(() => this.removing.delete(dir));
      this.removing.set(dir, removal);
    }
    if (this.retired.size > 0) {
      this.sweepTimer = setTimeout(() => this.sweep(), Math.min(this.keepMs, 60_000));
      this.sweepTimer.unref();
    }
  }

  private dirOf(app: string, instance: string): string {
    // App and instance names are checked names (letters, digits, dashes, dots): safe as path parts.
    return path.join(this.root, app, instance);
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const paths = batch.flatMap((b) => b.paths);
    execFile('mkfifo', ['-m', '600', '--', ...paths], (err, _stdout, stderr) => {
      for (const waiter of batch) {
        const failed = waiter.paths.find((p) => !isFifo(p));
        if (failed === undefined) waiter.resolve();
        else waiter.reject(new Error(`cannot make the output FIFO ${failed}: ${(stderr || err?.message || 'mkfifo failed').trim()}`));
      }
    });
  }
}

/**
 * Whether some process holds `fifo` open for writing: a read on a FIFO without writers ends
 * at once (0 bytes), with a writer it would wait (EAGAIN, non-blocking) or return its data.
 */
function hasWriter(fifo: string): boolean {
  let fd: number;
  try {
    fd = openFifoReader(fifo);
  } catch {
    return true; // cannot be opened: make it anew
  }
  try {
    return readSync(fd, Buffer.alloc(1), 0, 1, null) > 0;
  } catch {
    return true; // EAGAIN: a writer, silent for now
  } finally {
    closeSync(fd);
  }
}

function isFifo(p: string): boolean {
  try {
    return lstatSync(p).isFIFO();
  } catch {
    return false;
  }
}

export interface OutputFds {
  childOut: number;
  childErr: number;
  readOut: number;
  readErr: number;
}

/**
 * The child's ends (read-write, blocking: the process must see an ordinary blocking stdout) and
 * ours (read-only, non-blocking, opened first so no write can find the pipe without a reader).
 */
export function openOutputFds(output: OutputFifos): OutputFds {
  const opened: number[] = [];
  try {
    const readOut = openFifoReader(output.stdout);
    opened.push(readOut);
    const readErr = openFifoReader(output.stderr);
    opened.push(readErr);
    const childOut = openSync(output.stdout, fsConstants.O_RDWR);
    opened.push(childOut);
    const childErr = openSync(output.stderr, fsConstants.O_RDWR);
    return { readOut, readErr, childOut, childErr };
  } catch (err) {
    for (const fd of opened) closeSync(fd);
    throw err;
  }
}

export function closeOutputFds(fds: OutputFds, readersToo: boolean): void {
  for (const fd of readersToo ? [fds.childOut, fds.childErr, fds.readOut, fds.readErr] : [fds.childOut, fds.childErr]) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

export function openFifoReader(fifo: string): number {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait (in a thread) for a writer.
  return openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
}

/** A FIFO read through libuv's pipe handle: event-driven, 'end' once every writer is gone. */
export function fifoReader(fd: number): Readable {
  return new Socket({ fd, readable: true, writable: false });
}
