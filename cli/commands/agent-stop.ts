/**
 * `cluster agent stop`: signals the agent of a data dir and waits until it has exited; with
 * --stop-instances, stops too what an agent that died, or no longer runs, left behind
 * (agent/handover/stop-left-behind.ts).
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { loadJoinInfo } from '../../agent/tls/agent-credentials';
import { DataDirBusyError, runningAgent } from '../../agent/data-dir-lock';
import { isSameProcess } from '../../agent/supervisor/proc-stat';
import { stopLeftBehind } from '../../agent/handover/stop-left-behind';
import { createLogger } from '../../lib/log';
import { formatDuration as formatSpan } from '../../lib/cron/duration';
import { UserError } from '../errors';
import { timeoutMs } from '../parse';

/** SIGTERM and SIGINT hand the instances over to the next agent run; this one stops them first. */
export const STOP_INSTANCES_SIGNAL: NodeJS.Signals = 'SIGUSR2';

/** `cluster agent stop`: signals the agent of a data dir and waits until it has exited. */
export async function stopAgent(opts: { dataDir: string; stopInstances?: boolean; timeout: string }): Promise<void> {
  const dataDir = path.resolve(opts.dataDir);
  const timeout = timeoutMs(opts.timeout);
  const agent = runningAgent(dataDir);
  if (!agent && opts.stopInstances) return stopLeftBehindInstances(dataDir);
  if (!agent) {
    process.stderr.write(`No agent is running with the data dir ${dataDir}.\n`);
    return;
  }
  process.kill(agent.pid, opts.stopInstances ? STOP_INSTANCES_SIGNAL : 'SIGTERM');
  const deadline = Date.now() + timeout;
  // Until the process itself is gone: it gives up the data dir (its pid file) a moment before it exits.
  const stillThere = () => runningAgent(dataDir) !== undefined || isSameProcess(agent.pid, agent.startTicks);
  while (stillThere() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (stillThere()) throw new UserError(`the agent (pid ${agent.pid}) is still running after ${formatSpan(timeout)}; see its log`);
  if (!opts.stopInstances) {
    process.stderr.write(`Agent stopped (pid ${agent.pid}); its instances keep running for an agent started within the hand-over window to take over, and are stopped otherwise.\n`);
    return;
  }
  // An agent that died while stopping (killed, crashed) left the rest to its watchdog's window:
  // stop what it left here, as when no agent runs. After a clean stop this finds nothing.
  const left = await stopLeftBehindOf(dataDir);
  if (left.instances.length === 0 && left.strays.length === 0) {
    process.stderr.write(`Agent stopped (pid ${agent.pid}) with its instances.\n`);
    return;
  }
  process.stderr.write(`The agent (pid ${agent.pid}) ended before it had stopped everything; ${describeStopped(left, 'it left')}.\n`);
}

/** What stopLeftBehind stopped, in words: "stopped the 2 instances <whose> running: …; and 1 other process group of it (…)". */
function describeStopped({ instances, strays }: Awaited<ReturnType<typeof stopLeftBehind>>, whose: string): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const names = instances.map((i) => `${i.app} ${i.instance} (pid ${i.pid}${i.killed ? ', SIGKILL after its grace period' : ''})`);
  const parts: string[] = [];
  if (instances.length > 0) parts.push(`the ${plural(instances.length, 'instance')} ${whose} running: ${names.join(', ')}`);
  if (strays.length > 0) {
    const what = instances.length > 0 ? `${plural(strays.length, 'other process group')} of it` : `${plural(strays.length, 'process group')} ${whose} running`;
    parts.push(`${what} (one-offs, SIGKILL 2 s after SIGTERM)`);
  }
  return `stopped ${parts.join('; and ')}`;
}

/** Stops, each with its grace period, what the data dir's last agent run left running (agent/handover/stop-left-behind.ts). */
async function stopLeftBehindOf(dataDir: string): Promise<Awaited<ReturnType<typeof stopLeftBehind>>> {
  const agentId = loadJoinInfo(dataDir)?.name ?? os.hostname();
  try {
    return await stopLeftBehind({ dataDir, agentId, logger: createLogger('agent', 'silent') });
  } catch (err) {
    // An agent started on the data dir meanwhile: it holds the instances now.
    if (err instanceof DataDirBusyError) throw new UserError(`an agent (pid ${err.pid}) started on ${dataDir} meanwhile; run the command again to stop it with its instances`);
    throw err;
  }
}

/**
 * `agent stop --stop-instances` with no agent running: the instances the last run left for the
 * next one are stopped here, each with its grace period (agent/handover/stop-left-behind.ts).
 */
async function stopLeftBehindInstances(dataDir: string): Promise<void> {
  const left = await stopLeftBehindOf(dataDir);
  if (left.instances.length === 0 && left.strays.length === 0) {
    process.stderr.write(`No agent is running with the data dir ${dataDir}, and nothing it started is running.\n`);
    return;
  }
  process.stderr.write(`No agent was running with the data dir ${dataDir}; ${describeStopped(left, 'its last run left')}.\n`);
}
