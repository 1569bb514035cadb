/**
 * `cluster agent stop --stop-instances` when no agent runs on the data dir (it was stopped
 * with a plain `agent stop`, or it died, and the next run has not started): the instances its
 * last run left running are stopped here, each with its grace period, instead of waiting for
 * the watchdog's hand-over window to run out (docs/agent-handover.md).
 *
 * It is a take-over (take-over.ts: the earlier watchdog is told to exit, the instances are
 * found by pid and start time, strays of ours are stopped) followed by a stop, under the data
 * dir's lock, so no agent starts on the data dir meanwhile.
 */
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../lib/log';
import { lockDataDir } from '../data-dir-lock';
import { groupIdReused, signalGroup } from '../supervisor/process-group';
import { allPids, procStat } from '../supervisor/proc-stat';
import { takeOver } from './take-over';

export interface StoppedLeftBehind {
  /** The instances stopped, each with its grace period. */
  instances: Array<{ app: string; instance: string; pid: number; killed: boolean }>;
  /** Process groups of ours that could not be adopted (one-offs, a stale state file), stopped too. */
  strays: number[];
}

const POLL_MS = 100;
const KILL_WAIT_MS = 10_000;

/** Stops what the last agent run of `dataDir` left running; `agentId` when the state file does not say. */
export async function stopLeftBehind(opts: { dataDir: string; agentId: string; logger: Logger }): Promise<StoppedLeftBehind> {
  const dataDir = path.resolve(opts.dataDir);
  const unlock = lockDataDir(dataDir);
  try {
    const stateFile = path.join(dataDir, 'instances.json');
    const agentId = recordedAgentId(stateFile) ?? opts.agentId;
    const { adopted, stopped: strays } = await takeOver({ stateFile, agentId, agentDir: dataDir, logger: opts.logger, waitForLeftovers: true });
    // All at once, as an agent stopping with its instances does; each gets its own grace period.
    // One the last run was already stopping has had its SIGTERM: its grace runs from then.
    const started = Date.now();
    // Fresh looks: the take-over may have waited seconds for leftovers, long enough for a group to end and its id to be given out again.
    for (const record of adopted) if (record.stoppingSinceMs === undefined && !groupIdReused(record.pid, record.startTicks)) signalGroup(record.pid, 'SIGTERM');
    const killAt = (record: (typeof adopted)[number]) => (record.stoppingSinceMs ?? started) + record.graceMs;
    const instances = adopted.map((record) => ({ app: record.app, instance: record.instance, pid: record.pid, killed: false }));
    let waiting = adopted.map((record, i) => ({ record, result: instances[i]! }));
    while (waiting.length > 0) {
      const live = liveGroups();
      // A group SIGKILL does not end (a process stuck in the kernel) is not waited for forever.
      // One whose id now leads another process (it ended, and the id was given out again) is done.
      waiting = waiting.filter(({ record }) => live.has(record.pid) && !groupIdReused(record.pid, record.startTicks) && Date.now() < killAt(record) + KILL_WAIT_MS);
      for (const { record, result } of waiting) {
        if (!result.killed && Date.now() >= killAt(record)) {
          signalGroup(record.pid, 'SIGKILL');
          result.killed = true;
        }
      }
      if (waiting.length > 0) await new Promise((r) => setTimeout(r, POLL_MS));
    }
    // Nothing is left to take over: the next run starts from an empty record.
    rmSync(stateFile, { force: true });
    return { instances, strays };
  } finally {
    unlock();
  }
}

/** The agent id the state file was written for, if it can be read. */
function recordedAgentId(stateFile: string): string | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { agentId?: unknown };
    return typeof state.agentId === 'string' ? state.agentId : undefined;
  } catch {
    return undefined;
  }
}

/** Process groups with a member that is not a zombie (one scan of /proc for every instance). */
function liveGroups(): Set<number> {
  const groups = new Set<number>();
  for (const pid of allPids() ?? []) {
    const stat = procStat(pid);
    if (stat && stat.state !== 'Z') groups.add(stat.pgid);
  }
  return groups;
}
