/**
 * One agent per data dir: `agent.pid` names the agent that uses it (pid and start time, so a
 * pid reused by another program does not count). `cluster agent stop` reads it too.
 *
 * On a full disk the record is the target of a symbolic link instead of a file's content: a
 * short link needs no data block (ext4, xfs and tmpfs keep it in the inode), so an agent started
 * again there (a crash, an upgrade) takes its instances over instead of leaving them to its watchdog.
 */
import { linkSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { isSameProcess, procStat } from './supervisor/proc-stat';

export interface AgentPid {
  pid: number;
  startTicks: number;
}

export const PID_FILE = 'agent.pid';

/** The running agent of `dataDir`, if any. */
export function runningAgent(dataDir: string): AgentPid | undefined {
  let text: string | undefined;
  try {
    text = readOrUndefined(path.join(dataDir, PID_FILE));
  } catch {
    return undefined;
  }
  const recorded = text === undefined ? undefined : parsePid(text);
  return recorded && isSameProcess(recorded.pid, recorded.startTicks) ? recorded : undefined;
}

/**
 * Claims `dataDir` for this process; throws when another live agent uses it.
 *
 * Atomic: the file is made whole under another name and linked into place, which fails when it
 * exists, so two starts at the same moment (`agent stop --stop-instances` racing systemd's
 * restart) cannot both hold it. A file left by a dead agent is moved aside first, and put back if
 * what was moved is not what was read (another start took the lock meanwhile).
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, PID_FILE);
  const self: AgentPid = { pid: process.pid, startTicks: procStat(process.pid)?.startTicks ?? 0 };
  const unlock = () => {
    if (runningAgent(dataDir)?.pid === process.pid) rmSync(file, { force: true });
  };
  const text = JSON.stringify(self);
  let mine: string | undefined = `${file}.${process.pid}.new`;
  try {
    writeFileSync(mine, text, { mode: 0o600 });
  } catch (err) {
    rmSync(mine, { force: true });
    if (!isDiskFull(err)) throw err;
    mine = undefined;
  }
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        // Both fail when the file exists: only one start holds it.
        if (mine) linkSync(mine, file);
        else symlinkSync(text, file);
        return unlock;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const seen = readOrUndefined(file);
      if (seen === undefined) continue; // removed meanwhile: try again
      const other = parsePid(seen);
      // Ours only if the start time matches too: a pid can come back after a restart (pid 1 in a
      // container, a fixed boot order), and that file is a dead agent's.
      if (other?.pid === self.pid && other.startTicks === self.startTicks) return unlock;
      if (other && isSameProcess(other.pid, other.startTicks)) throw new DataDirBusyError(dataDir, other.pid);
      const aside = `${file}.${process.pid}.stale`;
      try {
        renameSync(file, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      if (readOrUndefined(aside) !== seen) {
        // Not the dead agent's file: a start that locked just now. Put it back.
        try {
          linkSync(aside, file);
        } catch {
          // a third start took the place meanwhile: the next turn reads that one
        }
      }
      rmSync(aside, { force: true });
    }
    throw new Error(`cannot lock the data dir ${dataDir}: ${file} keeps changing`);
  } finally {
    if (mine) rmSync(mine, { force: true });
  }
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** The record in `file`: a link's target (written on a full disk) or the file's content. */
function readOrUndefined(file: string): string | undefined {
  try {
    return readlinkSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EINVAL') throw err; // EINVAL: not a link, a file
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parsePid(text: string): AgentPid | undefined {
  try {
    const v = JSON.parse(text) as AgentPid;
    return Number.isInteger(v.pid) ? v : undefined;
  } catch {
    return undefined;
  }
}

export class DataDirBusyError extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`another agent (pid ${pid}) is running with the data dir ${dataDir}; stop it first (cluster agent stop --data-dir ${dataDir})`);
    this.name = 'DataDirBusyError';
  }
}
