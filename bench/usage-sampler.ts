/**
 * bench/usage-sampler: what the agent's CPU-and-memory sampling (agent/metrics/usage-sampler.ts)
 * costs with N instances (default 200), each a process group of two processes (`sh` waiting on a
 * `sleep`), as app instances often are (a shell or a runner and its program).
 *
 * One sample = one scan of /proc (readdir, one read of /proc/PID/stat per process on the host)
 * for all instances. For comparison, the naive way: one scan of /proc per instance (what a
 * per-instance `pidusage`-style lookup of a whole process group has to do).
 *
 *   node dist/bench/usage-sampler.js [--instances 200] [--samples 50] [--json FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { UsageSampler, readAllStats, procUnits, type SampledInstance } from '../agent/metrics/usage-sampler';
import { usageByGroup } from '../agent/metrics/process-usage';
import { allPids } from '../agent/supervisor/proc-stat';
import { banner, Figures, numberOption, onCleanup, percentile, runMain } from './lib/runs';

runMain(async () => {
  const n = numberOption('instances', 200);
  const samples = numberOption('samples', 50);
  await banner('usage sampler: cost of one sample of every instance', [`${n} instances × 2 processes, ${samples} samples`]);
  const children: ChildProcess[] = [];
  onCleanup(() => {
    for (const c of children) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  for (let i = 0; i < n; i++) {
    children.push(spawn('sh', ['-c', 'sleep 100000 & wait'], { detached: true, stdio: 'ignore' }));
  }
  // Every group has its two processes before anything is timed.
  for (;;) {
    const groups = usageByGroup(readAllStats(), new Set(children.map((c) => c.pid!)), procUnits());
    if ([...groups.values()].filter((g) => g.processes === 2).length === n) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const instances: SampledInstance[] = children.map((c, i) => ({ app: 'bench', instance: `worker.${i + 1}`, type: 'worker', pid: c.pid! }));
  const sampler = new UsageSampler(() => instances);
  const processes = allPids()?.length ?? 0;

  const one: number[] = [];
  const cpu: number[] = [];
  for (let s = 0; s < samples; s++) {
    const usageBefore = process.cpuUsage();
    const t = performance.now();
    sampler.sample();
    one.push(performance.now() - t);
    const used = process.cpuUsage(usageBefore);
    cpu.push((used.user + used.system) / 1000);
  }
  if (sampler.usage().length !== n) throw new Error(`sampled ${sampler.usage().length} of ${n} instances`);

  // The naive way: each instance scans /proc for its group's members.
  const naive: number[] = [];
  for (let s = 0; s < Math.min(samples, 5); s++) {
    const t = performance.now();
    for (const inst of instances) usageByGroup(readAllStats(), new Set([inst.pid]), procUnits());
    naive.push(performance.now() - t);
  }

  const figures = new Figures('usage-sampler');
  for (const v of one) figures.add('one sample, all instances (wall)', 'ms', v, { digits: 2 });
  for (const v of cpu) figures.add('one sample, all instances (CPU)', 'ms', v, { digits: 2 });
  for (const v of naive) figures.add('naive: one /proc scan per instance (wall)', 'ms', v, { digits: 0 });
  console.log(`# processes on the host during the run: ${processes}`);
  console.log(`# p99 of one sample: ${percentile(one, 99).toFixed(2)} ms; at the default 5 s interval that is ${(percentile(cpu, 50) / 50).toFixed(3)}% of one core`);
  figures.report({ instances: n, processes });
});
