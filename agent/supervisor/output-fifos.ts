/**
 * The FIFOs an instance writes its stdout and stderr into (see spawnInstanceProcess): one pair
 * per instance slot under the agent's data dir, `<app>/<instance>.stdout` and `.stderr`, made
 * once and kept across restarts of the instance, so a restart costs no extra process. Node
 * cannot make a FIFO, so `mkfifo` does, for every slot that asked during one turn of the event
 * loop at once (a burst of 300 starts costs two `mkfifo`s, not 300: the first few slots get one
 * of their own, so their processes start while the rest are made).
 *
 * The pairs lie side by side in one folder per app: on this kind of disk a folder per instance
 * (made at the start, removed with the instance) cost ~2 ms of the agent's thread each in a
 * burst (bench/RESULTS.md). Agents before that kept each pair in a folder of its own,
 * `<app>/<instance>/{stdout,stderr}`; the processes an upgraded agent takes over still write
 * there, so their slots keep those paths until the instance is gone.
 */
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, lstatSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';

/** The FIFO paths of one instance's stdout and stderr. */
export interface OutputFifos {
  stdout: string;
  stderr: string;
}

/** How many slots of a burst get a `mkfifo` of their own, so that the first processes start sooner. */
const FIRST_SLOTS = 4;

interface Waiter {
  paths: string[];
  resolve: () => void;
  reject: (err: Error) => void;
}

export class OutputFifoMaker {
  private pending: Waiter[] = [];
  private scheduled = false;
  /** `app/instance` of the slots whose FIFOs an older agent made in a folder of their own. */
  private readonly legacy: Set<string>;

  constructor(private readonly root: string) {
    this.legacy = findLegacySlots(root);
  }

  /** Where the FIFOs of an instance live (whether or not they exist yet). */
  pathsOf(app: string, instance: string): OutputFifos {
    // App and instance names are checked names (letters, digits, dashes, dots): safe as path parts.
    const base = path.join(this.root, app, instance);
    if (this.legacy.has(`${app}/${instance}`)) return { stdout: path.join(base, 'stdout'), stderr: path.join(base, 'stderr') };
    return { stdout: `${base}.stdout`, stderr: `${base}.stderr` };
  }

  /** Makes (or finds) the FIFOs of an instance. */
  async make(app: string, instance: string): Promise<OutputFifos> {
    const fifos = this.pathsOf(app, instance);
    const missing = [fifos.stdout, fifos.stderr].filter((p) => !isFifo(p));
    if (missing.length === 0) return fifos;
    // Made once per app; finding it is a lookup, cheap next to making a folder.
    mkdirSync(path.dirname(fifos.stdout), { recursive: true, mode: 0o700 });
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
    if (this.legacy.delete(`${app}/${instance}`)) {
      rmSync(path.join(this.root, app, instance), { recursive: true, force: true });
      return;
    }
    const fifos = this.pathsOf(app, instance);
    rmSync(fifos.stdout, { force: true });
    rmSync(fifos.stderr, { force: true });
  }

  private flush(): void {
    this.scheduled = false;
    const waiting = this.pending;
    this.pending = [];
    makeFifos(waiting.slice(0, FIRST_SLOTS));
    if (waiting.length > FIRST_SLOTS) makeFifos(waiting.slice(FIRST_SLOTS));
  }
}

/** One `mkfifo` for the FIFOs of every waiter; each learns whether its own were made. */
function makeFifos(batch: Waiter[]): void {
  const paths = batch.flatMap((b) => b.paths);
  execFile('mkfifo', ['-m', '600', '--', ...paths], (err, _stdout, stderr) => {
    for (const waiter of batch) {
      const failed = waiter.paths.find((p) => !isFifo(p));
      if (failed === undefined) waiter.resolve();
      else waiter.reject(new Error(`cannot make the output FIFO ${failed}: ${(stderr || err?.message || 'mkfifo failed').trim()}`));
    }
  });
}

/** The slots under `root` laid out by an older agent: `<app>/<instance>/` folders (read once, at start). */
function findLegacySlots(root: string): Set<string> {
  const slots = new Set<string>();
  for (const app of foldersIn(root)) {
    for (const instance of foldersIn(path.join(root, app))) slots.add(`${app}/${instance}`);
  }
  return slots;
}

function foldersIn(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return []; // none yet
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

/**
 * openOutputFds, making the FIFOs again first when they are gone (removed behind the agent's
 * back; a restart must not fail for good over it). A rare path: mkfifo runs synchronously.
 */
export function openOutputFdsRemaking(output: OutputFifos): OutputFds {
  try {
    return openOutputFds(output);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing = [output.stdout, output.stderr].filter((p) => !isFifo(p));
    mkdirSync(path.dirname(output.stdout), { recursive: true, mode: 0o700 });
    for (const p of missing) rmSync(p, { force: true });
    execFileSync('mkfifo', ['-m', '600', '--', ...missing], { stdio: 'ignore' });
    return openOutputFds(output);
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
