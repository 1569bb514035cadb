/**
 * Small shared pieces of the benchmarks in bench/{placement,throughput,scale-up,restart,
 * failover,footprint,logs}.ts: options, summaries (min/median/max, percentiles), tables, the
 * JSON figures file, temp dirs that are always removed, and child processes that are
 * always stopped.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// ---- options ---------------------------------------------------------------------------

export function numberOption(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}

export function stringOption(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

// ---- statistics ------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { n: 0, min: NaN, median: NaN, max: NaN };
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, min: sorted[0]!, median, max: sorted[sorted.length - 1]! };
}

export function fmt(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

/** "min / median / max" of several runs. */
export function fmtSummary(s: Summary, digits = 1): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return fmt(s.median, digits);
  return `${fmt(s.min, digits)} / ${fmt(s.median, digits)} / ${fmt(s.max, digits)}`;
}

// ---- output ----------------------------------------------------------------------------

/** Prints rows as an aligned table (first row: headers). */
export function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  rows.forEach((row, i) => {
    console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

/** Figures of one benchmark: each named figure has its values over runs, a unit, and a target note. */
export class Figures {
  private readonly values = new Map<string, { unit: string; values: number[]; target?: string; digits: number }>();

  constructor(readonly bench: string) {}

  add(name: string, unit: string, value: number, opts: { target?: string; digits?: number } = {}): void {
    const entry = this.values.get(name) ?? { unit, values: [], target: opts.target, digits: opts.digits ?? 1 };
    entry.values.push(value);
    this.values.set(name, entry);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  summary(name: string): Summary {
    return summarize(this.values.get(name)?.values ?? []);
  }

  /** Prints "figure | unit | min / median / max | runs | target" and writes --json FILE if asked. */
  report(context: Record<string, unknown> = {}): void {
    const rows: string[][] = [['figure', 'unit', 'min / median / max', 'runs', 'target']];
    for (const [name, e] of this.values) {
      rows.push([name, e.unit, fmtSummary(summarize(e.values), e.digits), String(e.values.length), e.target ?? '']);
    }
    console.log('');
    printTable(rows);
    const file = stringOption('json');
    if (file) {
      const out = {
        bench: this.bench,
        date: new Date().toISOString(),
        machine: machine(),
        command: `node ${path.relative(process.cwd(), process.argv[1] ?? '')} ${process.argv.slice(2).join(' ')}`.trim(),
        context,
        figures: Object.fromEntries([...this.values].map(([name, e]) => [name, { unit: e.unit, target: e.target, values: e.values, ...summarize(e.values) }])),
      };
      fs.writeFileSync(file, JSON.stringify(out, null, 2));
      console.log(`\nfigures written to ${file}`);
    }
  }
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
}

/** Prints what runs where; with --wait-idle, waits for an idle machine first (see waitIdle). */
export async function banner(title: string, lines: string[] = []): Promise<void> {
  await waitIdle();
  console.log(`# ${title}`);
  console.log(`# ${machine()}`);
  console.log(`# ${new Date().toISOString()}  load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const line of lines) console.log(`# ${line}`);
}

// ---- clean-up --------------------------------------------------------------------------

type Cleanup = () => Promise<void> | void;
const cleanups: Cleanup[] = [];
let cleaning: Promise<void> | undefined;

/** Registers a clean-up step; steps run last-in first-out on exit, on failure and on Ctrl-C. */
export function onCleanup(step: Cleanup): void {
  cleanups.push(step);
}

/**
 * Runs the registered steps; a second caller meanwhile (Ctrl-C during a failure) waits for the
 * same ones. Once done it can run again: bench/logs.ts cleans up after each of its runs.
 */
export function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await step();
      } catch (err) {
        console.error(`clean-up step failed: ${(err as Error).message}`);
      }
    }
  })().finally(() => {
    cleaning = undefined;
  });
  return cleaning;
}

/** Set when the bench fails: its temp dirs (daemon logs included) are then kept to look into. */
let failed = false;

/** A temp dir removed at clean-up (unless --keep, or the bench failed). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onCleanup(() => {
    if (flag('keep') || failed) console.error(`kept ${dir}${failed ? ' (the bench failed: its daemons\' logs are there)' : ''}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** SIGKILLs a child at clean-up if it is still running. */
export function killAtCleanup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  });
}

/**
 * Runs `main`, then the clean-up steps, whatever happens; exits 1 on failure.
 *
 * NODE_EXTRA_CA_CERTS is dropped first: every Node process started with it parses the whole CA
 * bundle (~30 ms here). cluster's agents pass only PATH, HOME, LANG… to their processes, while
 * PM2 and supervisord pass everything on, so a Node program would start slower under them for
 * a reason that has nothing to do with them. Nothing here needs the extra CAs.
 */
export function runMain(main: () => Promise<void>): void {
  delete process.env.NODE_EXTRA_CA_CERTS;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\ninterrupted: cleaning up…');
    cleanUp().then(
      () => process.exit(130),
      (err: unknown) => {
        console.error(`cleaning up failed: ${(err as Error).message}`);
        process.exit(130);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main().then(
    async () => {
      await cleanUp();
      process.exit(0);
    },
    async (err: unknown) => {
      console.error(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
      failed = true;
      await cleanUp();
      process.exit(1);
    },
  );
}

/** Whether a command is on PATH. */
export function which(command: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Busy share of the whole machine (1 = every core) over `ms`, from /proc/stat. */
export async function machineBusy(ms: number): Promise<number> {
  const read = () => {
    const f = fs.readFileSync('/proc/stat', 'latin1').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return (b.busy - a.busy) / Math.max(1, b.total - a.total);
}

/**
 * With --wait-idle SECONDS: waits (at most that long) until the machine is idle (under 10% busy
 * over 2 s), so another benchmark's work does not count in this one's figures. Prints what it found.
 */
export async function waitIdle(): Promise<void> {
  const limit = numberOption('wait-idle', 0) * 1000;
  if (limit <= 0) return;
  const deadline = Date.now() + limit;
  for (;;) {
    const busy = await machineBusy(2_000);
    if (busy < 0.1) {
      console.log(`# machine idle (${(busy * 100).toFixed(0)}% busy over 2 s)`);
      return;
    }
    if (Date.now() > deadline) {
      console.log(`# machine still ${(busy * 100).toFixed(0)}% busy after waiting ${limit / 1000} s: going ahead`);
      return;
    }
  }
}

/** Resident set size of a process in MB (VmRSS), undefined when it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) used by a process so far. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
