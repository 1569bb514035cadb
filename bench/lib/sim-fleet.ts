/** Runs simulated agents (bench/lib/sim-agents.ts) in a few child processes and sums their counts. */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import type { SimCounts, SimMessage } from './sim-agents';
import { killAtCleanup } from './runs';

const ENTRY = path.join(__dirname, 'sim-agents.js');

export class SimFleet {
  private readonly latest = new Map<number, SimCounts>();
  private readonly waiters: Array<{ check: (c: SimCounts) => boolean; resolve: (t: number) => void }> = [];
  readonly children: ChildProcess[] = [];

  private constructor() {}

  /** Starts `agents` simulated agents over `processes` children; resolves once all are registered and watching. */
  static async start(server: string, agents: number, opts: { processes?: number; capacity?: number; prefix?: string; nodeArgs?: string[] } = {}): Promise<SimFleet> {
    const fleet = new SimFleet();
    const processes = opts.processes ?? 2;
    const per = Math.ceil(agents / processes);
    const ready: Array<Promise<void>> = [];
    for (let p = 0; p < processes; p++) {
      const first = p * per;
      const count = Math.min(per, agents - first);
      if (count <= 0) break;
      const child = fork(ENTRY, [], {
        env: { ...process.env, SIM_SERVER: server, SIM_FIRST: String(first), SIM_COUNT: String(count), SIM_CAPACITY: String(opts.capacity ?? 200), SIM_PREFIX: opts.prefix ?? 'sim' },
        execArgv: opts.nodeArgs ?? [],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      killAtCleanup(child);
      fleet.children.push(child);
      ready.push(new Promise((resolve, reject) => {
        child.on('message', (msg: SimMessage) => {
          if (msg.type === 'ready') resolve();
          else if (msg.type === 'counts') fleet.update(msg.pid, msg.counts);
        });
        child.once('exit', (code) => reject(new Error(`simulated agents exited (${code})`)));
      }));
    }
    await Promise.all(ready);
    await fleet.when((c) => c.registered >= agents && c.watching >= agents, 60_000, 'every simulated agent to register and watch');
    return fleet;
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? 0);
  }

  counts(): SimCounts {
    const sum: SimCounts = { registered: 0, watching: 0, assigned: 0, up: 0, reports: 0, failedReports: 0, leaseLost: 0, streamBreaks: 0 };
    for (const c of this.latest.values()) for (const k of Object.keys(sum) as Array<keyof SimCounts>) sum[k] += c[k];
    return sum;
  }

  /** Resolves with the time (Date.now()) at which `check` first held for the summed counts. */
  when(check: (c: SimCounts) => boolean, timeoutMs: number, what: string): Promise<number> {
    if (check(this.counts())) return Promise.resolve(Date.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; counts ${JSON.stringify(this.counts())}`));
      }, timeoutMs);
      const waiter = { check, resolve: (t: number) => { clearTimeout(timer); resolve(t); } };
      this.waiters.push(waiter);
    });
  }

  private update(pid: number, counts: SimCounts): void {
    this.latest.set(pid, counts);
    const sum = this.counts();
    const now = Date.now();
    for (const w of [...this.waiters]) {
      if (w.check(sum)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(now);
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.children.map((c) => new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.disconnect();
      setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
    })));
  }
}
