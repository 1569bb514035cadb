/**
 * The FIFOs an instance writes its stdout and stderr into (see spawnInstanceProcess): one pair
 * per instance slot under the agent's data dir, made once and kept across restarts of the
 * instance, so a restart costs no extra process. Node cannot make a FIFO, so `mkfifo` does,
 * for every slot that asked during one turn of the event loop at once (a burst of 300 starts
 * costs one `mkfifo`, not 300).
 */
import { execFile } from 'node:child_process';
import { closeSync, constants as fsConstants, lstatSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';

/** The FIFO paths of one instance's stdout and stderr. */
export interface OutputFifos {
  stdout: string;
  stderr: string;
}

export class OutputFifoMaker {
  private pending: Array<{ paths: string[]; resolve: () => void; reject: (err: Error) => void }> = [];
  private scheduled = false;

  constructor(private readonly root: string) {}

  /** Where the FIFOs of an instance live (whether or not they exist yet). */
  pathsOf(app: string, instance: string): OutputFifos {
    const dir = this.dirOf(app, instance);
    return { stdout: path.join(dir, 'stdout'), stderr: path.join(dir, 'stderr') };
  }

  /** Makes (or finds) the FIFOs of an instance. */
  async make(app: string, instance: string): Promise<OutputFifos> {
    const fifos = this.pathsOf(app, instance);
    const missing = [fifos.stdout, fifos.stderr].filter((p) => !isFifo(p));
    if (missing.length === 0) return fifos;
    mkdirSync(this.dirOf(app, instance), { recursive: true, mode: 0o700 });
    for (const p of missing) rmSync(p, { force: true }); // not a FIFO (a crash left a file?): replace it
    await new Promise<void>((resolve, reject) => {
      this.pending.push({ paths: missing, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
    return fifos;
  }

  /** Removes the FIFOs of an instance that no longer runs here. */
  remove(app: string, instance: string): void {
    rmSync(this.dirOf(app, instance), { recursive: true, force: true });
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
