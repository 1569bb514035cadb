/** CPU time and resident memory of processes, sampled from /proc (Linux). */
import * as fs from 'node:fs';

const TICKS_PER_S = 100; // CLK_TCK on Linux

export interface ProcSample {
  t: number;
  /** utime + stime, seconds. */
  cpu: number;
  rssMb: number;
}

/** The whole machine when pid is 0: CPU seconds busy on all cores (1 = one core), used memory. */
export function readProc(pid: number): { cpu: number; rssMb: number } | undefined {
  if (pid === 0) return readMachine();
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /VmRSS:\s+(\d+)/.exec(status);
    return { cpu, rssMb: m ? Number(m[1]) / 1024 : 0 };
  } catch {
    return undefined;
  }
}

function readMachine(): { cpu: number; rssMb: number } | undefined {
  try {
    const cpuLine = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    const busy = cpuLine.slice(0, 8).reduce((a, b) => a + b, 0) - cpuLine[3]! - cpuLine[4]!;
    const mem = fs.readFileSync('/proc/meminfo', 'latin1');
    const total = Number(/MemTotal:\s+(\d+)/.exec(mem)![1]);
    const avail = Number(/MemAvailable:\s+(\d+)/.exec(mem)![1]);
    return { cpu: busy / TICKS_PER_S, rssMb: (total - avail) / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples named processes every `everyMs` until stopped. */
export class ProcSampler {
  readonly samples = new Map<string, ProcSample[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Record<string, number>, everyMs = 50) {
    for (const name of Object.keys(pids)) this.samples.set(name, []);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): void {
    const t = Date.now();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = readProc(pid);
      if (s) this.samples.get(name)!.push({ t, ...s });
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  /** CPU seconds used in [t0, t1] (linear between samples) over the wall time: 1 = one core. */
  cpuShare(name: string, t0: number, t1: number): number {
    const s = this.samples.get(name) ?? [];
    if (s.length < 2 || t1 <= t0) return NaN;
    return (cpuAt(s, t1) - cpuAt(s, t0)) / ((t1 - t0) / 1000);
  }

  /** Largest RSS seen in [t0, t1] (and the samples bracketing it). */
  peakRssMb(name: string, t0: number, t1: number): number {
    let peak = 0;
    const s = this.samples.get(name) ?? [];
    for (let i = 0; i < s.length; i++) {
      const inside = s[i]!.t >= t0 && s[i]!.t <= t1;
      const bracket = (s[i + 1] && s[i + 1]!.t >= t0 && s[i]!.t < t0) || (s[i - 1] && s[i - 1]!.t <= t1 && s[i]!.t > t1);
      if (inside || bracket) peak = Math.max(peak, s[i]!.rssMb);
    }
    return peak;
  }
}

function cpuAt(s: ProcSample[], t: number): number {
  if (t <= s[0]!.t) return s[0]!.cpu;
  for (let i = 1; i < s.length; i++) {
    if (s[i]!.t >= t) {
      const a = s[i - 1]!;
      const b = s[i]!;
      return a.cpu + ((b.cpu - a.cpu) * (t - a.t)) / Math.max(1, b.t - a.t);
    }
  }
  return s[s.length - 1]!.cpu;
}

/** CPU seconds so far of every process, with its parent. */
export function snapshotAll(): { t: number; machine: number; procs: Map<number, { ppid: number; cpu: number }> } {
  const procs = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(entry), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICKS_PER_S });
    } catch {
      // gone meanwhile
    }
  }
  return { t: Date.now(), machine: readMachine()?.cpu ?? NaN, procs };
}

/**
 * CPU (1 = one core) used between two snapshots by user processes that are not `roots` or
 * their descendants: other work on the machine that skews a benchmark's figures. Kernel
 * threads are left out (they include the disk writeback the benchmark itself causes), and
 * so are processes that ended before the second snapshot.
 */
export function othersCpu(a: ReturnType<typeof snapshotAll>, b: ReturnType<typeof snapshotAll>, roots: number[]): number {
  const children = new Map<number, number[]>();
  for (const [pid, p] of b.procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(pid);
    children.set(p.ppid, list);
  }
  // Kernel threads are kthreadd (2) and its children; ours are the roots and their descendants.
  const skip = new Set<number>();
  const stack = [...roots, 2];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (skip.has(pid)) continue;
    skip.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  let others = 0;
  for (const [pid, after] of b.procs) {
    if (skip.has(pid)) continue;
    others += after.cpu - (a.procs.get(pid)?.cpu ?? 0);
  }
  return Math.max(0, others / ((b.t - a.t) / 1000));
}
