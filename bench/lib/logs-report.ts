/** bench/logs's figures and how they are printed: one table per run, and a summary over runs. */
import * as os from 'node:os';
import type { DeliveryFigures } from './delivery';

export interface Capture {
  manager: 'cluster' | 'pm2';
  batch: number;
  lines: number;
  kept: number;
  dropped: number;
  complete: boolean;
  /** Log files that came and went between two looks (their lines are not counted): should be 0. */
  missedFiles: number;
  seconds: number;
  linesPerS: number;
  /** CPU of the agent (or PM2's daemon) over the window, 1 = one core. */
  cpu: number;
  /** CPU of the whole machine (all cores) over the window. */
  machineCpu: number;
  cpuSecondsPerMLines: number;
  rssBeforeMb: number;
  rssPeakMb: number;
}

export interface Delivery extends DeliveryFigures {
  manager: 'cluster' | 'pm2';
  mode: string;
  printed: number;
  complete: boolean;
  offeredPerS: number;
  deliveredPerS: number;
  cpu: Record<string, number>;
  rssPeakMb: Record<string, number>;
}

export interface RunResult {
  /** The machine's CPU use (all cores, 1 = one core) in the second before the run: others' load skews figures. */
  busyBefore: number;
  /** The most CPU that processes not ours used during a measured phase (1 = one core). */
  othersMax: number;
  capture: Capture[];
  delivery: Delivery[];
}

export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`;
}
export const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-');
const mb = (x: number) => `${x.toFixed(0)} MB`;

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One run's tables; `workload` is what each writer printed. */
export function report(r: RunResult, workload: { k: number; lines: number }): string {
  const { k: K, lines: LINES } = workload;
  const out: string[] = [];
  out.push(
    `machine busy in the second before the run: ${pct(r.busyBefore)} of ${os.cpus().length * 100}%; ` +
      `most CPU other processes took during a measurement: ${pct(r.othersMax)}`,
  );
  out.push(`capture: ${K} writers × ${LINES.toLocaleString('en')} lines of 100 bytes, until the last line of every writer is stored`);
  out.push(
    table(
      ['manager', 'write', 'lines/s', 'kept', 'dropped', 'CPU', 'CPU s/M lines', 'RSS before', 'RSS peak', 'machine CPU'],
      r.capture.map((c) => [
        c.manager === 'cluster' ? 'cluster agent' : 'PM2 daemon',
        c.batch === 1 ? '1 line' : `${c.batch} lines`,
        fmtRate(c.linesPerS) + (c.complete ? '' : ' (incomplete)') + (c.missedFiles > 0 ? ` (${c.missedFiles} files unread)` : ''),
        c.kept.toLocaleString('en'),
        String(c.dropped),
        pct(c.cpu),
        c.cpuSecondsPerMLines.toFixed(2),
        mb(c.rssBeforeMb),
        mb(c.rssPeakMb),
        `${pct(c.machineCpu)} of ${os.cpus().length * 100}%`,
      ]),
    ),
  );
  for (const batch of [1, 64]) {
    const a = r.capture.find((c) => c.manager === 'cluster' && c.batch === batch);
    const b = r.capture.find((c) => c.manager === 'pm2' && c.batch === batch);
    if (a && b) {
      out.push(
        `cluster / PM2, ${batch === 1 ? 'one line a write' : '64 lines a write'}: lines/s ×${(a.linesPerS / b.linesPerS).toFixed(2)}, ` +
          `CPU per line ×${(a.cpuSecondsPerMLines / b.cpuSecondsPerMLines).toFixed(2)}, peak RSS ×${(a.rssPeakMb / b.rssPeakMb).toFixed(2)}`,
      );
    }
  }
  out.push('');
  out.push(`delivery: ${K} writers, one 100-byte line a write, to one follower (cluster: \`cluster logs --tail --json\` via the control plane; PM2: \`pm2 logs --raw\`)`);
  out.push(
    table(
      ['follower', 'load', 'offered/s', 'delivered/s', 'p50', 'p99', 'max', 'received', 'missed (marked)', 'lost unmarked', 'damaged', 'CPU'],
      r.delivery.map((d) => [
        d.manager === 'cluster' ? 'cluster logs' : 'pm2 logs',
        d.mode,
        fmtRate(d.offeredPerS),
        fmtRate(d.deliveredPerS) + (d.complete ? '' : ' (incomplete)'),
        `${d.p50} ms`,
        `${d.p99} ms`,
        `${d.max} ms`,
        d.received.toLocaleString('en'),
        d.markedMissed.toLocaleString('en'),
        d.lostUnmarked.toLocaleString('en'),
        String(d.damaged),
        Object.entries(d.cpu).map(([k, v]) => `${k} ${pct(v)}`).join(', '),
      ]),
    ),
  );
  return out.join('\n');
}

/** Several runs: min / median / max of every figure. */
export function summary(runs: RunResult[]): string {
  const stat = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { min: s[0]!, median: s[Math.floor((s.length - 1) / 2)]!, max: s[s.length - 1]! };
  };
  const rows: string[][] = [];
  const add = (what: string, xs: number[], f: (x: number) => string) => {
    const s = stat(xs);
    rows.push([what, f(s.min), f(s.median), f(s.max)]);
  };
  for (const [i, c] of runs[0]!.capture.entries()) {
    const all = runs.map((r) => r.capture[i]!);
    const name = `capture ${c.manager} ${c.batch === 1 ? '1 line/write' : '64 lines/write'}`;
    add(`${name}: lines/s`, all.map((x) => x.linesPerS), fmtRate);
    add(`${name}: CPU`, all.map((x) => x.cpu), pct);
    add(`${name}: peak RSS`, all.map((x) => x.rssPeakMb), mb);
  }
  for (const batch of [1, 64]) {
    const ratios = runs.map((r) => {
      const a = r.capture.find((c) => c.manager === 'cluster' && c.batch === batch);
      const b = r.capture.find((c) => c.manager === 'pm2' && c.batch === batch);
      return a && b ? { rate: a.linesPerS / b.linesPerS, rss: a.rssPeakMb / b.rssPeakMb, cpu: a.cpuSecondsPerMLines / b.cpuSecondsPerMLines } : undefined;
    });
    if (ratios.every((x) => x !== undefined)) {
      const rs = ratios as Array<{ rate: number; rss: number; cpu: number }>;
      add(`cluster/PM2 ${batch} line(s)/write: lines/s`, rs.map((x) => x.rate), (x) => `×${x.toFixed(2)}`);
      add(`cluster/PM2 ${batch} line(s)/write: CPU per line`, rs.map((x) => x.cpu), (x) => `×${x.toFixed(2)}`);
      add(`cluster/PM2 ${batch} line(s)/write: peak RSS`, rs.map((x) => x.rss), (x) => `×${x.toFixed(2)}`);
    }
  }
  for (const [i, d] of runs[0]!.delivery.entries()) {
    const all = runs.map((r) => r.delivery[i]!);
    const name = `delivery ${d.manager} ${d.mode}`;
    add(`${name}: delivered/s`, all.map((x) => x.deliveredPerS), fmtRate);
    add(`${name}: p50`, all.map((x) => x.p50), (x) => `${x} ms`);
    add(`${name}: p99`, all.map((x) => x.p99), (x) => `${x} ms`);
    add(`${name}: missed (marked)`, all.map((x) => x.markedMissed), (x) => x.toLocaleString('en'));
    add(`${name}: lost unmarked`, all.map((x) => x.lostUnmarked), (x) => x.toLocaleString('en'));
  }
  return table(['figure', 'min', 'median', 'max'], rows);
}
