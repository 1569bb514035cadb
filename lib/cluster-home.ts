/** Where the CLI keeps its files: `$CLUSTER_HOME`, else `~/.cluster`. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export function clusterHome(): string {
  return process.env.CLUSTER_HOME || path.join(os.homedir(), '.cluster');
}

/** What a running `cluster dev` writes so that plain commands find it without flags. */
export interface DevState {
  server: string;
  etcd: string;
  dataDir: string;
  pid: number;
}

export function devStateFile(): string {
  return path.join(clusterHome(), 'dev.json');
}

/** The running dev cluster's state, or undefined when none runs. */
export function readDevState(): DevState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(devStateFile(), 'utf8')) as DevState;
    process.kill(state.pid, 0); // throws when that `cluster dev` is gone
    return state;
  } catch {
    return undefined;
  }
}
