/**
 * One agent per data dir: `agent.pid` names the agent that uses it (pid and start time, so a
 * pid reused by another program does not count). `cluster agent stop` reads it too.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSameProcess, procStat } from './supervisor/proc-stat';

export interface AgentPid {
  pid: number;
  startTicks: number;
}

export const PID_FILE = 'agent.pid';

/** The running agent of `dataDir`, if any. */
export function runningAgent(dataDir: string): AgentPid | undefined {
  let recorded: AgentPid;
  try {
    recorded = JSON.parse(readFileSync(path.join(dataDir, PID_FILE), 'utf8')) as AgentPid;
  } catch {
    return undefined;
  }
  return Number.isInteger(recorded.pid) && isSameProcess(recorded.pid, recorded.startTicks) ? recorded : undefined;
}

/** Claims `dataDir` for this process; throws when another live agent uses it. */
export function lockDataDir(dataDir: string): () => void {
  const other = runningAgent(dataDir);
  if (other && other.pid !== process.pid) {
    throw new DataDirBusyError(dataDir, other.pid);
  }
  const file = path.join(dataDir, PID_FILE);
  const self: AgentPid = { pid: process.pid, startTicks: procStat(process.pid)?.startTicks ?? 0 };
  writeFileSync(file, JSON.stringify(self), { mode: 0o600 });
  return () => {
    if (runningAgent(dataDir)?.pid === process.pid) rmSync(file, { force: true });
  };
}

export class DataDirBusyError extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`another agent (pid ${pid}) is running with the data dir ${dataDir}; stop it first (cluster agent stop --data-dir ${dataDir})`);
    this.name = 'DataDirBusyError';
  }
}
