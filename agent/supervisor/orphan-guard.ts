/**
 * Stops app processes when the agent dies and no new agent takes them over in time.
 *
 * Linux can tie a child's life to its parent with PR_SET_PDEATHSIG, but Node cannot set it,
 * and our children run in their own process groups so nothing else reaches them. Instead a
 * tiny `/bin/sh` watchdog in its own session reads "+pgid" / "-pgid" lines from a pipe held
 * by the agent. The kernel closes that pipe whatever way the agent dies (SIGTERM for a
 * restart, kill -9, the OOM killer). On EOF the watchdog waits for the hand-over window: a
 * restarted agent that re-adopts the instances (agent/handover/take-over.ts) tells it so with
 * SIGUSR1 and it exits without touching anything. If none does, it sends SIGTERM to every
 * group still listed, waits, sends SIGKILL and exits: the control plane re-places the work
 * of an agent that stays away, so its processes must not run on.
 *
 * "q" means the agent stopped its instances itself (`--stop-instances`): exit at once.
 * "wN" sets the window to N tenths of a second (the agent learns it from its lease's TTL).
 * "lN": the control plane cannot count the agent gone before N tenths of a second after boot
 * (/proc/uptime), when its lease (or restart hold) can end at the earliest; the agent writes it
 * after each renewal. SIGKILL then comes half a second before that, if the grace would end later:
 * once the agent is gone, its instances are placed elsewhere, and a process slow to exit on
 * SIGTERM must not run next to its copy (docs/agent-handover.md, "A crash is not a restart").
 *
 * A frozen agent (SIGSTOP, its event loop stuck) closes no pipe and runs no timer, so its
 * `--disconnected-grace` cannot stop its instances while the control plane re-places them.
 * With that grace set, the agent also writes "t" every second, and "fN" sets the freeze limit
 * (N tenths: the grace): once no tick has come for that long, a second shell of the watchdog
 * stops every process of the agent (found by their markers, below), then kills the agent, as
 * systemd's watchdog would a service that stopped pinging. The next agent run starts afresh. A
 * disconnected agent that is not frozen still ticks: its own grace applies.
 *
 * The agent posts "+pgid" in the same turn as the spawn; it could still die between the fork
 * and that write. So, before it stops anything, the watchdog also looks for processes of ours
 * it was never told about: every instance and one-off carries CLUSTER_HOST and
 * CLUSTER_AGENT_DIR in its environment (agent/instance-env.ts; users cannot set them), which
 * the watchdog greps in /proc/PID/environ (two `grep` processes, only then), as take-over.ts
 * does. An earlier version held each new process in a gating shell until the watchdog had the
 * line: one more exec and two more wake-ups on every start and restart (docs/agent-handover.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { Logger } from '../../lib/log';
import { procStat } from './proc-stat';
import { WATCHDOG_SCRIPT } from './watchdog-script';
import { WATCHDOG_KILL_GRACE_MS } from '../../lib/restart-hold';

/** Options of the orphan guard. */
export interface OrphanGuardOptions {
  /** Time between SIGTERM and SIGKILL once the agent is gone. Default 5 s. */
  graceMs?: number;
  /** How long after the agent's death a new agent may take the processes over. Default 2 s. */
  handoverWindowMs?: number;
  /**
   * The environment markers of the agent's processes (CLUSTER_HOST, CLUSTER_AGENT_DIR): with
   * them the watchdog also stops processes it was never told about (see the file comment), and
   * waits out the window even when it was told of none.
   */
  marks?: { host: string; agentDir: string };
}

/** The watchdog process, for a later agent run to find it (pid and start time guard against reuse). */
export interface WatchdogId {
  pid: number;
  startTicks: number;
}

const DEFAULT_WINDOW_MS = 2_000;
const RESPAWN_DELAY_MS = 1_000;
const CLOSE_TIMEOUT_MS = 2_000;
/** How often the agent tells the watchdog it is not frozen. */
const TICK_MS = 1_000;

/** Watchdog that kills tracked process groups if the agent dies and is not replaced in time. */
export class OrphanGuard {
  private readonly groups = new Set<number>();
  private watchdog: ChildProcess | undefined;
  private closing: Promise<void> | undefined;
  private respawnTimer: NodeJS.Timeout | undefined;
  private respawnDelayMs = RESPAWN_DELAY_MS;
  private windowMs: number;
  private freezeLimitMs = 0;
  private leaseFloorTenths = 0;
  private keepUntilTenths = 0;
  private ticker: NodeJS.Timeout | undefined;

  private constructor(
    private readonly log: Logger,
    private readonly graceMs: number,
    windowMs: number,
    private readonly onRespawn: (id: WatchdogId | undefined) => void,
    private readonly marks: OrphanGuardOptions['marks'],
  ) {
    this.windowMs = windowMs;
  }

  /** Starts the watchdog process. `onRespawn` hears of every new watchdog (for the state file). */
  static start(logger: Logger, opts: OrphanGuardOptions = {}, onRespawn: (id: WatchdogId | undefined) => void = () => undefined): OrphanGuard {
    const guard = new OrphanGuard(
      logger.child({ component: 'orphan-guard' }),
      opts.graceMs ?? WATCHDOG_KILL_GRACE_MS,
      opts.handoverWindowMs ?? DEFAULT_WINDOW_MS,
      onRespawn,
      opts.marks,
    );
    guard.spawnWatchdog();
    return guard;
  }

  /** Watchdog pid (0 if none runs); for tests and diagnostics. */
  get pid(): number {
    return this.watchdog?.pid ?? 0;
  }

  /** The running watchdog, as a later agent run finds it. */
  get id(): WatchdogId | undefined {
    const stat = procStat(this.pid);
    return stat && { pid: stat.pid, startTicks: stat.startTicks };
  }

  /**
   * Tracks a process group. The line is written at once (a pipe write: a line this short is in
   * the pipe when this returns unless the pipe is full), so it survives the agent's death.
   */
  track(pgid: number): void {
    if (!Number.isInteger(pgid) || pgid <= 1 || this.closing) return;
    this.groups.add(pgid);
    this.post(`+${pgid}`);
  }

  /** Stops tracking a process group that is gone. */
  untrack(pgid: number): void {
    if (!this.groups.delete(pgid)) return;
    this.post(`-${pgid}`);
  }

  /** The earliest time (uptimeMs) the control plane may count the agent gone (see the file comment); only ever moves later. */
  setLeaseFloor(uptimeMs: number): void {
    const tenths = Math.floor(uptimeMs / 100);
    if (tenths <= this.leaseFloorTenths) return;
    this.leaseFloorTenths = tenths;
    this.post(`l${tenths}`);
  }

  /**
   * A time (uptimeMs) until which the processes may run without an agent, whatever the window:
   * the end of the window a restart hold gave an earlier run (the hold outlives that run's end and
   * this run's registration, docs/agent-handover.md), so a run that leaves or dies before it has a
   * window as long keeps them as long. Counted on the watchdog's clock, not from the agent's end.
   */
  setKeepUntil(uptimeMs: number): void {
    const tenths = Math.floor(uptimeMs / 100);
    if (tenths <= this.keepUntilTenths) return;
    this.keepUntilTenths = tenths;
    this.post(`h${tenths}`);
  }

  /** Sets the hand-over window (see the file comment). */
  setHandoverWindow(ms: number): void {
    this.windowMs = Math.max(100, Math.round(ms));
    this.post(`w${Math.ceil(this.windowMs / 100)}`);
  }

  get handoverWindowMs(): number {
    return this.windowMs;
  }

  /**
   * Sets the freeze limit (see the file comment) and starts the ticks: once this long passes
   * without one, the watchdog kills the agent and stops every process of it. Only with markers
   * (the watchdog finds the processes by them).
   */
  setFreezeLimit(ms: number): void {
    if (!this.marks || this.closing) return;
    this.freezeLimitMs = Math.max(1_000, Math.round(ms));
    this.post(`f${Math.ceil(this.freezeLimitMs / 100)}`);
    this.post('t');
    if (this.ticker) return;
    this.ticker = setInterval(() => this.post('t'), TICK_MS);
    this.ticker.unref();
  }

  /** Clean shutdown after the agent stopped its instances: the watchdog exits without killing anything. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown('q');
    return this.closing;
  }

  /**
   * Hand-over: the agent exits and leaves its instances running. The watchdog sees EOF and waits
   * for the window; a new agent takes over, or it stops the groups. Idempotent.
   */
  detach(): Promise<void> {
    this.closing ??= this.shutdown(undefined);
    return this.closing;
  }

  private async shutdown(last: string | undefined): Promise<void> {
    clearTimeout(this.respawnTimer);
    clearInterval(this.ticker);
    const watchdog = this.watchdog;
    if (!watchdog || watchdog.exitCode !== null || watchdog.signalCode !== null) return;
    if (last === undefined) {
      // Nothing to wait for: the watchdog outlives us on purpose.
      watchdog.stdin?.end();
      return;
    }
    const exited = new Promise<void>((resolve) => watchdog.once('exit', () => resolve()));
    this.post(last);
    watchdog.stdin?.end();
    const timer = setTimeout(() => {
      this.log.warn({ pid: watchdog.pid }, `watchdog did not exit after "${last}"; killing it`);
      watchdog.kill('SIGKILL');
    }, CLOSE_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private spawnWatchdog(): void {
    let watchdog: ChildProcess;
    try {
      watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], {
        // Own session: signals aimed at the agent's group or terminal must not kill it.
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          CLUSTER_GUARD_TICKS: String(Math.ceil(this.graceMs / 100)),
          CLUSTER_GUARD_WINDOW_TICKS: String(Math.ceil(this.windowMs / 100)),
          ...(this.marks && { CLUSTER_GUARD_HOST: this.marks.host, CLUSTER_GUARD_DIR: this.marks.agentDir }),
        },
      });
    } catch (err) {
      this.log.error({ err }, 'cannot start the orphan watchdog; app processes will outlive an agent crash');
      this.onRespawn(undefined);
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
      this.onRespawn(undefined);
      this.log.error(
        { code, signal, retryInMs: this.respawnDelayMs },
        'orphan watchdog died; app processes would outlive an agent crash until it is restarted',
      );
      this.respawnTimer = setTimeout(() => this.respawn(), this.respawnDelayMs);
      this.respawnTimer.unref();
      this.respawnDelayMs = Math.min(this.respawnDelayMs * 2, 60_000);
    });
    if (watchdog.pid !== undefined) this.log.debug({ pid: watchdog.pid }, 'orphan watchdog started');
    this.onRespawn(this.id);
  }

  private respawn(): void {
    if (this.closing) return;
    this.spawnWatchdog();
    for (const pgid of this.groups) this.post(`+${pgid}`);
    if (this.freezeLimitMs > 0) this.post(`f${Math.ceil(this.freezeLimitMs / 100)}`);
    if (this.leaseFloorTenths > 0) this.post(`l${this.leaseFloorTenths}`);
    if (this.keepUntilTenths > 0) this.post(`h${this.keepUntilTenths}`);
  }

  /** Writes a line to the watchdog without waiting (a failed write shows as the watchdog's exit). */
  private post(line: string): void {
    this.openStdin()?.write(`${line}\n`);
  }

  private openStdin(): Writable | undefined {
    const stdin = this.watchdog?.stdin;
    return !stdin || stdin.destroyed || stdin.writableEnded ? undefined : stdin;
  }
}
