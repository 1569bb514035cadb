/**
 * The agent's record of what it runs, in its data dir (`instances.json`), so that the next
 * agent run (a restart, an upgrade, a crash followed by systemd's restart) can take the running
 * instances over instead of restarting them. Written atomically (temp file, then rename) and
 * coalesced: a burst of changes costs one or two writes.
 *
 * The file may lag behind by one write, or be corrupt: take-over.ts only adopts a process whose
 * pid AND start time match a record, so a stale record never adopts a stranger, and anything of
 * ours it does not adopt is stopped (the instance is then started afresh).
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../../lib/log';
import type { WatchdogId } from '../supervisor/orphan-guard';
import { bootId } from '../supervisor/proc-stat';

export const STATE_VERSION = 1;

/** One running instance, as the next agent run needs it. */
export interface InstanceRecord {
  app: string;
  instance: string;
  type: string;
  /** The assignment it runs (without its environment), and a digest of everything that would restart it. */
  spec: Record<string, unknown>;
  specKey: string;
  pid: number;
  startTicks: number;
  startedAtMs: number;
  restarts: number;
  crashes: number;
  port: number;
  cwd: string;
  command: string;
  graceMs: number;
  stdout: string;
  stderr: string;
  /**
   * Set while the instance is being stopped: when SIGTERM was sent (wall clock). The next run
   * adopts it and finishes the stop at the same deadline (SIGKILL at this plus `graceMs`)
   * without a second SIGTERM; its output is read to the end. Absent: running.
   */
  stoppingSinceMs?: number;
  /** Set while it has not passed its boot check: the next run adopts it `starting` and checks on. */
  booting?: boolean;
}

/**
 * An instance with no process: it crashed and waits out its crash loop backoff. The next run
 * starts it at the same time with the same counters, instead of at once from 0 (an upgrade of a
 * fleet of agents would otherwise make every crash-looping app hammer again). A list of its own
 * in the file: agents before it never read the list, and start such an instance afresh.
 */
export interface WaitingRecord {
  app: string;
  instance: string;
  type: string;
  spec: Record<string, unknown>;
  specKey: string;
  restarts: number;
  crashes: number;
  /** When the previous run was to start it again (wall clock). */
  restartAtMs: number;
  /** Its last exit, as `ps` says it (`exited with status 3`). */
  lastCrash: string;
}

/** A one-off process (`run.N`, `release.N`) running: never adopted, but the next run reports its end. */
export interface OneOffRecord {
  app: string;
  instance: string;
  /** Its process group's leader (0 while launching). */
  pid: number;
  /**
   * Not started yet: its code is being fetched, and it is reported `starting` meanwhile. A run
   * that dies then leaves that status under the kept lease: the next run reports it gone.
   */
  launching?: boolean;
}

export interface AgentState {
  version: number;
  bootId: string;
  agentId: string;
  watchdog?: WatchdogId;
  instances: InstanceRecord[];
  /** The instances waiting out their crash loop backoff, with no process. */
  waiting?: WaitingRecord[];
  /**
   * The one-offs running. One that ends while no agent runs (its output pipe closed with the
   * agent that read it, or it was done) leaves no process for the next run to find, yet its `up`
   * status stays in `ps` under the kept lease: the next run reports these ended too.
   */
  oneOffs?: OneOffRecord[];
  /**
   * Written only by the last write of a run that left by a hand-over, after its instance logs
   * were flushed: everything it had read of the instances' output is on disk. A run that died
   * (kill -9, the OOM killer) never writes it, and may have lost what it read in its last
   * moments (docs/logs.md).
   */
  handedOver?: boolean;
  /**
   * Until when (the clock of /proc/uptime, ms) the processes may run without an agent: the end of
   * the window a restart hold gave a run that left (or one inherited from an earlier run). The
   * control plane keeps the instances here as long, so a later run that leaves or dies before it
   * has a window as long passes this on to its watchdog (docs/agent-handover.md).
   */
  keepUntilUptimeMs?: number;
}

/** Reads the state file; `problem` says why it cannot be used (missing is not a problem). */
export function readAgentState(file: string, agentId: string): { state?: AgentState; problem?: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `cannot read ${file}: ${(err as Error).message}` };
  }
  let state: AgentState;
  try {
    state = JSON.parse(text) as AgentState;
  } catch (err) {
    return { problem: `${file} is not valid JSON (${(err as Error).message})` };
  }
  if (typeof state !== 'object' || state === null || !Array.isArray(state.instances)) return { problem: `${file} has no instance list` };
  if (state.version > STATE_VERSION) return { problem: `${file} was written by a newer agent (state version ${state.version})` };
  if (state.bootId !== bootId()) return { problem: `${file} is from before a reboot: its pids mean nothing now` };
  if (state.agentId !== agentId) return { problem: `${file} belongs to agent ${String(state.agentId)}, not ${agentId}` };
  const instances = state.instances.filter(isRecord);
  const oneOffs = Array.isArray(state.oneOffs) ? state.oneOffs.filter(isOneOffRecord) : [];
  const waiting = Array.isArray(state.waiting) ? state.waiting.filter(isWaitingRecord) : [];
  return { state: { ...state, instances, waiting, oneOffs } };
}

/** Whether a record of the writer's is one of an instance waiting with no process. */
export function isWaiting(r: InstanceRecord | WaitingRecord): r is WaitingRecord {
  return (r as WaitingRecord).restartAtMs !== undefined;
}

function isWaitingRecord(r: unknown): r is WaitingRecord {
  const x = r as WaitingRecord;
  return (
    typeof x === 'object' && x !== null &&
    typeof x.app === 'string' && typeof x.instance === 'string' && typeof x.type === 'string' &&
    typeof x.specKey === 'string' && typeof x.spec === 'object' && x.spec !== null &&
    Number.isInteger(x.restarts) && Number.isInteger(x.crashes) && Number.isFinite(x.restartAtMs) &&
    typeof x.lastCrash === 'string'
  );
}

function isOneOffRecord(r: unknown): r is OneOffRecord {
  const x = r as OneOffRecord;
  return typeof x === 'object' && x !== null && typeof x.app === 'string' && typeof x.instance === 'string' && Number.isInteger(x.pid);
}

function isRecord(r: unknown): r is InstanceRecord {
  const x = r as InstanceRecord;
  return (
    typeof x === 'object' && x !== null &&
    typeof x.app === 'string' && typeof x.instance === 'string' && typeof x.type === 'string' &&
    Number.isInteger(x.pid) && x.pid > 1 && Number.isFinite(x.startTicks) &&
    typeof x.specKey === 'string' && typeof x.spec === 'object' && x.spec !== null &&
    typeof x.stdout === 'string' && typeof x.stderr === 'string' && typeof x.cwd === 'string' &&
    typeof x.command === 'string' && Number.isInteger(x.port) && Number.isInteger(x.restarts)
  );
}

/**
 * How long a change waits before the state is written. The write serialises every record, which
 * on a busy agent takes longer than a restart's own work: waiting lets a crash restart spawn
 * first (crashed → starting → up then costs one write, not three in its path), and coalesces a
 * burst. A change not yet written when the agent dies only means that the next run restarts
 * that instance instead of adopting it (take-over.ts stops what it cannot adopt).
 */
export const STATE_WRITE_DELAY_MS = 10;

/** Keeps `instances.json` up to date with coalesced atomic writes. */
export class AgentStateWriter {
  private readonly records = new Map<string, InstanceRecord | WaitingRecord>();
  /** By process group. */
  private readonly oneOffs = new Map<number, OneOffRecord>();
  /** Those still launching, by run (app/name#id). */
  private readonly launching = new Map<string, OneOffRecord>();
  private watchdog: WatchdogId | undefined;
  private writing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private again = false;
  private failedOnce = false;
  private handedOver = false;
  private keepUntilUptimeMs?: number;

  constructor(
    private readonly file: string,
    private readonly agentId: string,
    private readonly logger: Logger,
  ) {}

  /** Records (or with undefined, forgets) the instance in slot `key`. */
  set(key: string, record: InstanceRecord | WaitingRecord | undefined): void {
    if (record) this.records.set(key, record);
    else if (!this.records.delete(key)) return;
    this.schedule();
  }

  /** Records (or with undefined, forgets) the one-off whose process group is `pgid`. */
  setOneOff(pgid: number, record: OneOffRecord | undefined): void {
    if (record) this.oneOffs.set(pgid, record);
    else if (!this.oneOffs.delete(pgid)) return;
    this.schedule();
  }

  /** Records (or with undefined, forgets) a one-off still launching, by its run (app/name#id). */
  setLaunchingOneOff(run: string, record: { app: string; instance: string } | undefined): void {
    if (record) this.launching.set(run, { app: record.app, instance: record.instance, pid: 0, launching: true });
    else if (!this.launching.delete(run)) return;
    this.schedule();
  }

  setWatchdog(id: WatchdogId | undefined): void {
    this.watchdog = id;
    this.schedule();
  }

  /** AgentState.keepUntilUptimeMs, only ever later; flush() writes it. */
  keepUntil(uptimeMs: number): void {
    this.keepUntilUptimeMs = Math.max(this.keepUntilUptimeMs ?? 0, Math.round(uptimeMs));
  }

  /** The run is leaving by a hand-over and its instance logs are flushed (AgentState.handedOver); flush() writes it. */
  markHandedOver(): void {
    this.handedOver = true;
    this.schedule();
  }

  /** Resolves once everything set so far is on disk. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.startWriting();
    }
    while (this.writing) await this.writing;
  }

  private schedule(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startWriting();
    }, STATE_WRITE_DELAY_MS);
  }

  private startWriting(): void {
    if (this.writing) {
      this.again = true;
      return;
    }
    this.writing = (async () => {
      do {
        this.again = false;
        try {
          await this.write();
        } catch (err) {
          if (!this.failedOnce) this.logger.warn({ err, file: this.file }, 'cannot record the running instances; an agent restart would restart them');
          this.failedOnce = true;
        }
      } while (this.again);
      this.writing = undefined;
    })();
  }

  private async write(): Promise<void> {
    const records = [...this.records.values()];
    const state: AgentState = {
      version: STATE_VERSION,
      bootId: bootId(),
      agentId: this.agentId,
      watchdog: this.watchdog,
      instances: records.filter((r): r is InstanceRecord => !isWaiting(r)),
      waiting: records.filter(isWaiting),
      oneOffs: [...this.oneOffs.values(), ...this.launching.values()],
      ...(this.handedOver && { handedOver: true }),
      ...(this.keepUntilUptimeMs !== undefined && { keepUntilUptimeMs: this.keepUntilUptimeMs }),
    };
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
