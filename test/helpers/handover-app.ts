/**
 * What the agent hand-over and agent-stop tests share: the app's ticker script, and the app's
 * processes as the process table shows them.
 */
import * as fs from 'node:fs';
import { procEnviron } from '../../agent/supervisor/proc-stat';
import { isGone } from './processes';

// One numbered line every 10 ms: a gap or a reordering in the logs shows in the numbers.
export const TICKER = `i=0
while :; do i=$((i + 1)); echo "tick $i"; sleep 0.01; done
`;

/** The processes of the app actually running under `root` (a test cluster's dir), by instance name (zombies excluded). */
export function runningUnder(root: string, app: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const env = procEnviron(pid);
    if (env.get('CLUSTER_APP') !== app || isGone(pid)) continue;
    try {
      if (!fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(root)) continue; // another test's
    } catch {
      continue;
    }
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgid !== pid) continue; // count group leaders: the instance processes themselves
    const name = env.get('CLUSTER_INSTANCE') ?? '?';
    found.set(name, [...(found.get(name) ?? []), pid]);
  }
  return found;
}
