/** bench/logs.ts's command-line options (its header lists them) and fixed settings. */
import * as path from 'node:path';
import { option } from './args';
import { flag, stringOption } from './runs';

export const K = option('k', 4);
export const LINES = option('lines', 1_000_000);
export const DELIVERY_LINES = option('delivery-lines', 500_000);
export const PACED_RATE = option('paced-rate', 250_000);
export const PACED_SECONDS = option('paced-seconds', 4);
export const RUNS = option('runs', 1);
export const WITH_PM2 = !flag('no-pm2');
export const JSON_OUT = stringOption('json');
export const PROFILE_DIR = stringOption('profile');
/** Before each run, wait up to this long for the machine to be idle (others' work skews figures). */
export const WAIT_IDLE_S = flag('wait-idle') ? option('wait-idle', 600) : 0;
/** Which parts to run (for profiling one of them): cap1, cap64, flood, paced, paced64, pm2. */
export const PHASES = new Set((stringOption('phases') ?? 'cap1,cap64,flood,paced,paced64,pm2').split(','));
/** Print each delivery phase's largest delay per 250 ms of print time (where a tail comes from). */
export const TIMELINE = flag('timeline');
export const APP = 'logbench';
/** No progress for this long ends a phase (what arrived by then is reported). */
export const STALL_MS = 10_000;
/** A delivery phase ends at the latest this long after the writers go. */
export const DELIVERY_CAP_MS = 45_000;

/**
 * Node flags for `what` (agent, control-plane, cli): `--cpu-prof` writing its profile under --profile
 * DIR, and any extra flags in BENCH_AGENT_NODE_ARGS / BENCH_CONTROL_PLANE_NODE_ARGS (e.g.
 * `--trace-gc`; the daemon's output is in its log file under the run's dir, see --keep).
 */
export function profileArgs(what: 'agent' | 'control-plane' | 'cli'): string[] {
  const extra = what === 'cli' ? undefined : process.env[what === 'agent' ? 'BENCH_AGENT_NODE_ARGS' : 'BENCH_CONTROL_PLANE_NODE_ARGS'];
  const prof = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, what)] : [];
  return [...prof, ...(extra ? extra.split(/\s+/).filter(Boolean) : [])];
}
