/**
 * Kills app processes when the agent itself dies without cleaning up (SIGKILL, OOM killer).
 *
 * Linux can tie a child's life to its parent with PR_SET_PDEATHSIG, but Node cannot set it,
 * and our children run in their own process groups so nothing else reaches them. Instead a
 * tiny `/bin/sh` watchdog in its own session reads "+pgid" / "-pgid" lines from a pipe held
 * by the agent. The kernel closes that pipe whatever way the agent dies; on EOF the watchdog
 * sends SIGTERM to every group still listed, waits, sends SIGKILL and exits. A clean shutdown
 * writes "q" instead, and the watchdog exits without killing anything.
 *
 * As a second line of defence (the watchdog could be killed too), the live groups can be
 * persisted to a state file that a restarted agent passes to killLeftovers().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Logger } from '../../lib/log';
import { groupExists, signalGroup } from './child-process';

// Group ids are kept as a space-separated list; a `case` guards against anything that is
// not a number ever reaching `kill` (a stray "-0" or "-1" would hit far more than one group).
const WATCHDOG_SCRIPT = `
groups=
while IFS= read -r line; do
  case "$line" in
    q) exit 0 ;;
    +*) g=\${line#+}; case "$g" in ''|*[!0-9]*) ;; *) groups="$groups $g" ;; esac ;;
    -*) g=\${line#-}; rest=; for p in $groups; do [ "$p" = "$g" ] || rest="$rest $p"; done; groups=$rest ;;
  esac
done
[ -n "$groups" ] || exit 0
for p in $groups; do kill -s TERM -- "-$p" 2>/dev/null; done
n=0
while [ "$n" -lt "$CLUSTER_GUARD_TICKS" ]; do
  alive=
  for p in $groups; do kill -s 0 -- "-$p" 2>/dev/null && alive=1; done
  [ -n "$alive" ] || exit 0
  sleep 0.1 2>/dev/null || sleep 1
  n=$((n + 1))
done
for p in $groups; do kill -s KILL -- "-$p" 2>/dev/null; done
exit 0
`;

/** Options of the orphan guard. */
export interface OrphanGuardOptions {
  /** Time between SIGTERM and SIGKILL once the agent is gone. Default 5 s. */
  graceMs?: number;
  /** If set, the tracked groups are also persisted here (see killLeftovers). */
  stateFile?: string;
}

const DEFAULT_GRACE_MS = 5_000;
const RESPAWN_DELAY_MS = 1_000;
const CLOSE_TIMEOUT_MS = 2_000;

/** Watchdog that kills tracked process groups if the agent dies. */
export class OrphanGuard {
  private readonly groups = new Set<number>();
  private watchdog: ChildProcess | undefined;
  private closing: Promise<void> | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private respawnDelayMs = RESPAWN_DELAY_MS;
  private persisting: Promise<void> | undefined;
  private persistAgain = false;

  private constructor(
    private readonly log: Logger,
    private readonly graceMs: number,
    private readonly stateFile: string | undefined,
  ) {}

  /** Starts the watchdog process. */
  static start(logger: Logger, opts: OrphanGuardOptions = {}): OrphanGuard {
    const guard = new OrphanGuard(logger.child({ component: 'orphan-guard' }), opts.graceMs ?? DEFAULT_GRACE_MS, opts.stateFile);
    guard.spawnWatchdog();
    return guard;
  }

  /** Watchdog pid (0 if none runs); for tests and diagnostics. */
  get pid(): number {
    return this.watchdog?.pid ?? 0;
  }

  /** Tracks a process group so it dies with the agent. */
  track(pgid: number): void {
    if (!Number.isInteger(pgid) || pgid <= 1 || this.closing) return;
    this.groups.add(pgid);
    this.send(`+${pgid}`);
    this.persist();
  }

  /** Stops tracking a process group that is gone. */
  untrack(pgid: number): void {
    if (!this.groups.delete(pgid)) return;
    this.send(`-${pgid}`);
    this.persist();
  }

  /** Clean shutdown: the watchdog exits without killing anything (the agent stopped its instances). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.respawnTimer);
    const watchdog = this.watchdog;
    if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) {
      const exited = new Promise<void>((resolve) => watchdog.once('exit', () => resolve()));
      this.send('q');
      watchdog.stdin?.end();
      const timer = setTimeout(() => {
        this.log.warn({ pid: watchdog.pid }, 'watchdog did not exit after "q"; killing it');
        watchdog.kill('SIGKILL');
      }, CLOSE_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await this.persisting;
  }

  private spawnWatchdog(): void {
    let watchdog: ChildProcess;
    try {
      watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
        // Own session: signals aimed at the agent's group or terminal must not kill it.
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLUSTER_GUARD_TICKS: String(Math.ceil(this.graceMs / 100)) },
      });
    } catch (err) {
      this.log.error({ err }, 'cannot start the orphan watchdog; app processes will outlive an agent crash');
      return;
    }
    this.watchdog = watchdog;
    // The guard must never keep the agent alive by itself.
    watchdog.unref();
    (watchdog.stdin as Writable & { unref?: () => void }).unref?.();
    // EPIPE when the watchdog died: reported by the 'exit' handler below, never thrown.
    watchdog.stdin?.on('error', () => undefined);
    watchdog.on('error', (err) => this.log.error({ err }, 'orphan watchdog failed'));
    watchdog.on('exit', (code, signal) => {
      if (this.closing || this.watchdog !== watchdog) return;
      this.watchdog = undefined;
      this.log.error(
        { code, signal, retryInMs: this.respawnDelayMs },
        'orphan watchdog died; app processes would outlive an agent crash until it is restarted',
      );
      this.respawnTimer = setTimeout(() => this.respawn(), this.respawnDelayMs);
      this.respawnTimer.unref();
      this.respawnDelayMs = Math.min(this.respawnDelayMs * 2, 60_000);
    });
    if (watchdog.pid !== undefined) this.log.debug({ pid: watchdog.pid }, 'orphan watchdog started');
  }

  private respawn(): void {
    if (this.closing) return;
    this.spawnWatchdog();
    for (const pgid of this.groups) this.send(`+${pgid}`);
  }

  private send(line: string): void {
    const stdin = this.watchdog?.stdin;
    if (!stdin || stdin.destroyed || stdin.writableEnded) return;
    stdin.write(`${line}\n`);
  }

  // Writes are serialised and coalesced: a burst of track() calls costs one or two writes.
  private persist(): void {
    if (!this.stateFile) return;
    if (this.persisting) {
      this.persistAgain = true;
      return;
    }
    const stateFile = this.stateFile;
    this.persisting = (async () => {
      do {
        this.persistAgain = false;
        try {
          await recordGroups(stateFile, this.groups);
        } catch (err) {
          this.log.warn({ err, stateFile }, 'cannot record process groups; a restarted agent may not find leftovers');
        }
      } while (this.persistAgain);
      this.persisting = undefined;
    })();
  }
}

interface GroupsFile {
  bootId: string;
  pgids: number[];
}

/** Persists the live process groups (atomically: write a temp file, then rename). */
export async function recordGroups(stateFile: string, pgids: Iterable<number>): Promise<void> {
  const content: GroupsFile = { bootId: bootId(), pgids: [...pgids] };
  const tmp = `${stateFile}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(content)}\n`);
  await rename(tmp, stateFile);
}

/**
 * Kills the process groups recorded by a previous agent run that still exist (SIGTERM, then
 * SIGKILL after `graceMs`), then deletes the file. Returns the groups that were found alive.
 */
export async function killLeftovers(stateFile: string, logger?: Logger, graceMs = 2_000): Promise<number[]> {
  let recorded: GroupsFile;
  try {
    recorded = JSON.parse(await readFile(stateFile, 'utf8')) as GroupsFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      logger?.warn({ err, stateFile }, 'cannot read recorded process groups; ignoring them');
    }
    return [];
  }
  // After a reboot the numbers name unrelated processes: never signal those.
  const pgids =
    recorded.bootId === bootId() && Array.isArray(recorded.pgids)
      ? recorded.pgids.filter((pgid) => Number.isInteger(pgid) && pgid > 1 && groupExists(pgid))
      : [];
  if (pgids.length > 0) {
    logger?.warn({ pgids }, 'process groups of a previous agent run are still alive; stopping them');
    for (const pgid of pgids) signalGroup(pgid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (pgids.some(groupExists) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pgid of pgids) signalGroup(pgid, 'SIGKILL');
  }
  await rm(stateFile, { force: true });
  return pgids;
}

let cachedBootId: string | undefined;

function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = ''; // not Linux: the check degrades to "same boot"
    }
  }
  return cachedBootId;
}
