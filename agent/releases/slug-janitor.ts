/**
 * Removes the unpacked slugs this agent no longer uses. Every deploy with new code leaves one in
 * `<data>/slugs/<digest>/`: without this, a process server's disk fills deploy after deploy.
 *
 * A slug stays while an assignment of this agent names it, while a one-off of this agent holds it
 * (ReleaseCache.hold(): from before its fetch to its end, wherever its working directory went),
 * while a process of this host has its working directory in it (an instance still stopping, what
 * escaped one, whatever was started there), and for `--keep-slugs`
 * minutes after it was last in use (the mtime of its `.cluster-complete` marker, touched by each
 * start and each sweep that finds it in use), so a rollback or a redeploy of the same code starts
 * without fetching it again. A removal renames the directory first (`ensure()` never sees half of
 * one) and deletes it in the background (read-only folders an app left in it included:
 * remove-tree.ts). Leftovers of an agent that died mid-fetch go too. What cannot be removed is
 * tried again at every sweep, and named in one warning.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import { allPids } from '../supervisor/proc-stat';
import { removeTree } from './remove-tree';

export const COMPLETE_MARKER = '.cluster-complete';
/** `--keep-slugs` by default: an hour, long enough for a rollback after a bad deploy. */
export const DEFAULT_KEEP_SLUGS_MS = 60 * 60_000;
const DIGEST = /^[0-9a-f]{64}$/;
/** A fetch or unpack of a live agent ends within its 5 min timeout; one older was left by a crash. */
const ABANDONED_FETCH_MS = 60 * 60_000;
const TRASH_PREFIX = '.trash-';

export interface SlugJanitorOptions {
  /** `<data>/slugs`. */
  dir: string;
  /** How long a slug nothing uses is kept (0: removed at the next sweep). */
  keepMs: number;
  /** The digests this agent's assignments, instances and one-offs use; undefined while it does not know yet (no snapshot). */
  inUse: () => ReadonlySet<string> | undefined;
  logger: Logger;
  /** The working directories of this host's processes (tests pass their own). */
  processDirs?: () => Iterable<string>;
  now?: () => number;
  /** Deletes a removed slug (tests pass their own). */
  remove?: (dir: string) => Promise<void>;
}

export class SlugJanitor {
  private timer?: NodeJS.Timeout;
  private sweeping = false;
  private readonly now: () => number;
  private readonly processDirs: () => Iterable<string>;
  private readonly remove: (dir: string) => Promise<void>;
  /** The entries of `dir` a warning named already: one warning each, not one a sweep. */
  private warned = new Set<string>();

  /** The slugs' directory as /proc names processes' working directories (no symlinks). */
  private readonly realDir: string;

  constructor(private readonly opts: SlugJanitorOptions) {
    this.now = opts.now ?? Date.now;
    this.processDirs = opts.processDirs ?? processWorkingDirs;
    this.remove = opts.remove ?? removeTree;
    this.realDir = fs.realpathSync(opts.dir);
  }

  /** Sweeps every `intervalMs` until close(). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.sweep().catch(() => undefined); // sweep() logs its own failures
    }, intervalMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Removes what is unused and older than the keep time; returns the digests removed. */
  async sweep(): Promise<string[]> {
    if (this.sweeping) return [];
    this.sweeping = true;
    try {
      return await this.sweepOnce();
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'sweeping unused slugs failed; trying again at the next sweep');
      return [];
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepOnce(): Promise<string[]> {
    const { dir, keepMs, logger } = this.opts;
    const inUse = this.opts.inUse();
    if (!inUse) return [];
    // Reading every process's cwd costs ~25 µs a process, on the event loop: only done when some
    // slug is not assigned (a host running only what it is assigned reads no /proc at all).
    let running: Set<string> | undefined;
    const withProcesses = () => (running ??= this.digestsWithProcesses());
    // From here to the renames nothing awaits: a start (ensure() touches the marker) cannot slip in between.
    const now = this.now();
    const removed: string[] = [];
    const trash: string[] = [];
    const names = fs.readdirSync(dir);
    this.warned = new Set(names.filter((n) => this.warned.has(n)));
    for (const name of names) {
      const full = path.join(dir, name);
      if (name.startsWith(TRASH_PREFIX)) {
        trash.push(full);
        continue;
      }
      if (name.startsWith('.')) {
        if (now - mtimeMs(full, now) > ABANDONED_FETCH_MS) trash.push(full);
        continue;
      }
      if (!DIGEST.test(name)) continue; // not ours
      const marker = path.join(full, COMPLETE_MARKER);
      if (inUse.has(name) || withProcesses().has(name)) {
        touch(marker, now);
        continue;
      }
      if (now - mtimeMs(marker, 0) < keepMs) continue;
      const doomed = path.join(dir, `${TRASH_PREFIX}${name}-${now}`);
      try {
        fs.renameSync(full, doomed);
      } catch (err) {
        this.warnOnce(name, { slug: name, err: (err as Error).message }, 'cannot remove an unused slug');
        continue;
      }
      removed.push(name);
      trash.push(doomed);
    }
    await Promise.all(trash.map((t) => this.remove(t).catch((err: unknown) =>
      this.warnOnce(path.basename(t), { path: t, err: (err as Error).message }, 'cannot delete a removed slug; trying again at each sweep'))));
    if (removed.length > 0) logger.info({ slugs: removed, keptMinutes: keepMs / 60_000 }, 'unused release slugs removed');
    return removed;
  }

  private warnOnce(name: string, fields: object, message: string): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.opts.logger.warn(fields, message);
  }

  /** The slugs some process of this host has as its working directory (or below it). */
  private digestsWithProcesses(): Set<string> {
    const prefix = this.realDir + path.sep;
    const out = new Set<string>();
    for (const cwd of this.processDirs()) {
      if (!cwd.startsWith(prefix)) continue;
      const digest = cwd.slice(prefix.length).split(path.sep, 1)[0]!;
      if (DIGEST.test(digest)) out.add(digest);
    }
    return out;
  }
}

/** The working directory of every process this agent may read (others are not its own). */
function* processWorkingDirs(): Generator<string> {
  for (const pid of allPids() ?? []) {
    try {
      yield fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone meanwhile, or another user's
    }
  }
}

function mtimeMs(file: string, otherwise: number): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return otherwise;
  }
}

/** Marks a slug used now; a missing marker (a slug being removed) is no matter. */
export function touch(marker: string, nowMs: number): void {
  try {
    const when = new Date(nowMs);
    fs.lutimesSync(marker, when, when); // not through a symlink an app put there: its target is not ours
  } catch {
    // removed meanwhile
  }
}

/** A sweep every quarter of the keep time, within 5 s and 10 min. */
export function slugSweepIntervalMs(keepMs: number): number {
  return Math.min(10 * 60_000, Math.max(5_000, Math.round(keepMs / 4)));
}

/** `inUse` with the slugs one-offs hold added; undefined stays undefined (nothing known yet). */
export function withHeld(inUse: ReadonlySet<string> | undefined, held: readonly string[]): ReadonlySet<string> | undefined {
  if (!inUse || held.length === 0) return inUse;
  return new Set([...inUse, ...held]);
}
