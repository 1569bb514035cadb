/**
 * What a starting agent does with the processes an earlier run of it left behind.
 *
 * 1. The earlier run's watchdog (orphan-guard.ts), if it is still waiting out its hand-over
 *    window, is told with SIGUSR1 that a new agent is here, and we wait until it has exited:
 *    from then on nothing else signals those groups. It is found by the state file and by the
 *    markers in its environment, so an unusable state file does not leave it waiting.
 * 2. An instance is adopted when its record's pid is alive, leads its own process group and
 *    has the recorded start time: the same process, not a later one that got the same pid.
 *    One the previous run was stopping is adopted too, and its stop finished (reconciler.ts).
 * 3. Every other process of ours still alive (found by the CLUSTER_HOST and CLUSTER_AGENT_DIR
 *    markers every instance and one-off carries in its environment) is stopped: nothing may run
 *    that this agent does not supervise, or it could run twice once the control plane places
 *    it again. Both markers: another agent on this machine may have the same id (another
 *    cluster, a test cluster next to a real one), and its processes are none of ours.
 *
 * A corrupt, stale or missing state file therefore adopts nothing and stops everything of
 * ours: the instances are started afresh, never twice.
 */
import type { Logger } from '../../lib/log';
import { isOneOffInstance } from '../../lib/one-off';
import { groupExists, groupHasLiveMembers, groupIdReused, signalGroup } from '../supervisor/process-group';
import { isSameProcess, procEnviron, procStat } from '../supervisor/proc-stat';
import { markedProcesses } from '../supervisor/marked-processes';
import { readAgentState, type InstanceRecord, type WaitingRecord } from './instance-state';
import type { WatchdogId } from '../supervisor/orphan-guard';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * A record adopted, with the environment its process was started with (for its restarts);
 * undefined when its environment no longer says (a program that rewrites its process title over
 * it, as setproctitle does): the restarts' environment is then made as a fresh start's.
 */
export interface AdoptedRecord extends InstanceRecord {
  env?: Record<string, string>;
}

export interface StoppedOneOff {
  pgid: number;
  app: string;
  instance: string;
}


export interface TakeOverResult {
  adopted: AdoptedRecord[];
  /** Instances the previous run had no process of: waiting out their crash loop backoff (resumed as they were). */
  waiting: WaitingRecord[];
  /** Process groups of ours that were stopped. */
  stopped: number[];
  /** The one-offs among them (`cluster run`, scheduled jobs, release commands: never handed over), by their leaders. */
  stoppedOneOffs: StoppedOneOff[];
  /** One-offs the previous run recorded that ended while no agent ran: nothing of them was left to stop. */
  endedOneOffs: StoppedOneOff[];
  /** One-offs the previous run was launching (fetching their code) when it ended: they never started. */
  unstartedOneOffs: Array<{ app: string; instance: string }>;
  /** The previous run left by a hand-over with its logs flushed (AgentState.handedOver); false when it died. */
  handedOver: boolean;
  /** Until when the previous run's processes may run without an agent (AgentState.keepUntilUptimeMs), if it said. */
  keepUntilUptimeMs?: number;
}

/** Longest wait for an earlier watchdog: it may be in the middle of its SIGTERM → SIGKILL grace. */
const WATCHDOG_EXIT_TIMEOUT_MS = 15_000;
const LEFTOVER_GRACE_MS = 2_000;
/** How long processes sent SIGKILL are waited for (one stuck in the kernel does not end). */
const KILLED_WAIT_MS = 5_000;

export async function takeOver(opts: {
  stateFile: string;
  agentId: string;
  agentDir: string;
  logger: Logger;
  /** Wait until the processes that cannot be adopted are gone (SIGKILL after LEFTOVER_GRACE_MS); else that runs on in the background. */
  waitForLeftovers?: boolean;
}): Promise<TakeOverResult> {
  const { logger } = opts;
  const { state, problem } = readAgentState(opts.stateFile, opts.agentId);
  if (problem) logger.warn({ problem }, 'cannot use the state of the previous agent run: stopping its processes instead of adopting them');

  // The state file names the watchdog, but it may be unusable (corrupt, a newer agent's) or a
  // write behind (a watchdog respawned just before a crash): watchdogs are also found by their
  // markers. One left waiting would stop this run's instances once its window ran out.
  // Scanned once, before the watchdogs exit: groups one of them stops meanwhile are signalled for nothing.
  const ours = scanOurs(opts.agentId, opts.agentDir);
  const watchdogs = new Map(ours.watchdogs.map((w) => [w.pid, w]));
  const recorded = state?.watchdog;
  if (recorded && isSameProcess(recorded.pid, recorded.startTicks)) watchdogs.set(recorded.pid, recorded);
  for (const watchdog of watchdogs.values()) {
    try {
      process.kill(watchdog.pid, 'SIGUSR1');
    } catch {
      // exited meanwhile
    }
  }
  const deadline = Date.now() + WATCHDOG_EXIT_TIMEOUT_MS;
  const alive = () => [...watchdogs.values()].filter((w) => isSameProcess(w.pid, w.startTicks));
  while (alive().length > 0 && Date.now() < deadline) await delay(20);
  for (const watchdog of alive()) {
    logger.warn({ pid: watchdog.pid }, 'the previous watchdog does not exit; killing it');
    signalGroup(watchdog.pid, 'SIGKILL');
  }

  const adopted: AdoptedRecord[] = [];
  const seen = new Set<number>();
  for (const record of state?.instances ?? []) {
    if (seen.has(record.pid)) continue;
    const stat = procStat(record.pid);
    if (!stat || stat.startTicks !== record.startTicks || stat.pgid !== record.pid || stat.state === 'Z') {
      if (stat && stat.startTicks !== record.startTicks) {
        logger.info({ pid: record.pid, app: record.app, instance: record.instance }, 'recorded pid now belongs to another process: not adopting it');
      }
      continue;
    }
    // Read now, while the process is known to be there: its restarts run with it. Read later (once
    // the agent was up), a process that had died meanwhile gave an empty one, and its restarts ran
    // without PORT, config or markers. Without our markers it is not what it was started with.
    const env = Object.fromEntries(procEnviron(record.pid));
    seen.add(record.pid);
    adopted.push({ ...record, env: env.CLUSTER_HOST === undefined ? undefined : env });
  }

  // Groups an adopted instance started in a session of their own (setsid: a Python helper with
  // start_new_session, a detached Node child) belong to it, as they did under the previous run.
  // Only those started after the adopted process: one an earlier, crashed process of the same
  // instance left behind is a leftover like any other.
  const adoptedStart = new Map(adopted.map((r) => [`${r.app}/${r.instance}`, r.startTicks]));
  const isHelper = (g: OurGroup) => g.startTicks >= (adoptedStart.get(`${g.app}/${g.instance}`) ?? Infinity);
  const leftoverGroups = ours.groups.filter((g) => !seen.has(g.pgid) && !isHelper(g));
  const leftovers = leftoverGroups.map((g) => g.pgid);
  // A one-off's leader carries its markers (a process it started in a session of its own is a group of its own).
  // Once each, by its oldest group (the one-off itself, not what it started in a session of its own).
  const stoppedOneOffs = new Map<string, StoppedOneOff & { startTicks: number }>();
  for (const g of leftoverGroups) {
    if (!g.app || !g.instance || !isOneOffInstance(g.instance)) continue;
    const key = `${g.app}/${g.instance}`;
    const known = stoppedOneOffs.get(key);
    if (!known || g.startTicks < known.startTicks) stoppedOneOffs.set(key, { pgid: g.pgid, app: g.app, instance: g.instance, startTicks: g.startTicks });
  }
  const endedOneOffs = (state?.oneOffs ?? [])
    .filter((r) => !r.launching && isOneOffInstance(r.instance) && !stoppedOneOffs.has(`${r.app}/${r.instance}`))
    .map((r) => ({ pgid: r.pid, app: r.app, instance: r.instance }));
  let leftoversGone = Promise.resolve();
  if (leftovers.length > 0) {
    logger.warn({ pgids: leftovers }, 'processes of a previous agent run that cannot be adopted are still alive; stopping them');
    // Each leader's start time, to tell the group from a later one given its id (process-group.ts).
    const leaders = new Map(leftovers.map((pgid) => [pgid, procStat(pgid)?.startTicks]));
    for (const pgid of leftovers) signalGroup(pgid, 'SIGTERM');
    leftoversGone = killAfterGrace(leaders);
  }
  // An agent does not wait for them: it must register within its lease, or the control plane
  // places every instance it adopted elsewhere. One of them may still be assigned here (its
  // record was lost): its fresh copy starts once the agent has registered, and the two may
  // overlap for up to LEFTOVER_GRACE_MS.
  if (opts.waitForLeftovers) await leftoversGone;
  if (adopted.length > 0) logger.info({ instances: adopted.length }, 'taking over the instances of the previous agent run');
  return {
    adopted,
    waiting: state?.waiting ?? [],
    stopped: leftovers,
    stoppedOneOffs: [...stoppedOneOffs.values()].map(({ pgid, app, instance }) => ({ pgid, app, instance })),
    endedOneOffs,
    unstartedOneOffs: (state?.oneOffs ?? []).filter((r) => r.launching === true).map(({ app, instance }) => ({ app, instance })),
    handedOver: state?.handedOver === true,
    keepUntilUptimeMs: typeof state?.keepUntilUptimeMs === 'number' && Number.isFinite(state.keepUntilUptimeMs) ? state.keepUntilUptimeMs : undefined,
  };
}

/**
 * SIGKILL to whatever of the groups (pgid → its leader's start time) is still there, and still
 * theirs, after LEFTOVER_GRACE_MS; resolves once those are gone, not only signalled (`agent stop
 * --stop-instances` says they are stopped then; a busy machine takes a moment to end a process),
 * or KILLED_WAIT_MS after the SIGKILL (a process stuck in the kernel). Never rejects.
 */
async function killAfterGrace(leaders: Map<number, number | undefined>): Promise<void> {
  const ours = (pgid: number) => groupExists(pgid) && !groupIdReused(pgid, leaders.get(pgid));
  const deadline = Date.now() + LEFTOVER_GRACE_MS;
  while ([...leaders.keys()].some(ours) && Date.now() < deadline) await delay(50);
  const killed = [...leaders.keys()].filter(ours);
  for (const pgid of killed) signalGroup(pgid, 'SIGKILL');
  const sentAt = performance.now();
  const until = Date.now() + KILLED_WAIT_MS;
  // Zombies count as gone: orphans are reaped by PID 1, which some inits do lazily.
  while (killed.some((pgid) => groupHasLiveMembers(pgid, sentAt)) && Date.now() < until) await delay(50);
}

interface OurGroup {
  pgid: number;
  /** The instance its first member found says it belongs to (`run.N` for a one-off; none without markers). */
  app?: string;
  instance?: string;
  /** When that member started (field 22 of /proc/PID/stat). */
  startTicks: number;
}

/**
 * One scan of /proc for what earlier runs of agent `agentId` with data dir `agentDir` left, by the
 * markers in their environment: their watchdogs (orphan-guard.ts), and the process groups with a
 * live member that runs for them (marked-processes.ts), reading one member's environment a group.
 */
export function scanOurs(agentId: string, agentDir: string): { watchdogs: WatchdogId[]; groups: OurGroup[] } {
  const watchdogs: WatchdogId[] = [];
  const groups = new Map<number, OurGroup>();
  for (const p of markedProcesses(agentId, agentDir, (stat) => groups.has(stat.pgid))) {
    if (p.watchdog) watchdogs.push({ pid: p.pid, startTicks: p.stat.startTicks });
    else groups.set(p.stat.pgid, { pgid: p.stat.pgid, app: p.app, instance: p.instance, startTicks: p.stat.startTicks });
  }
  return { watchdogs, groups: [...groups.values()] };
}
