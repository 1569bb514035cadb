/**
 * What `agent join` checks of its data dir before it spends the token: a join writes the agent's
 * certificate and identity there, so a data dir another agent runs from would get a new identity
 * under it (started again, that agent comes back as another one and stops its own processes), and
 * one this user cannot write would fail only after the token is gone. Nothing is created here: a
 * join that fails leaves no data dir behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runningAgent } from './data-dir-lock';

/** Why `agent join` must not write to `dataDir`, or undefined. */
export function joinDataDirProblem(dataDir: string): string | undefined {
  const running = runningAgent(dataDir);
  if (running) {
    return `another agent (pid ${running.pid}) is running with the data dir ${dataDir}: joining would replace its identity; stop it first (cluster agent stop --data-dir ${dataDir}), or join with another --data-dir`;
  }
  // The data dir, or the nearest directory above it that exists: where the join's files will go.
  let dir = dataDir;
  for (;;) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(dir);
    } catch (err) {
      // ENOTDIR: a file on the way, found as the loop goes up.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return `--data-dir ${dataDir}: ${(err as Error).message}`;
    }
    if (stat) {
      if (!stat.isDirectory()) return `--data-dir ${dataDir}: ${dir} is not a directory`;
      try {
        fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
      } catch {
        return `--data-dir ${dataDir}: ${dir} cannot be written by this user (run as the user the agent runs as, or choose another --data-dir)`;
      }
      return undefined;
    }
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
