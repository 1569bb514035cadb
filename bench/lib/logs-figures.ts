/** bench/logs.ts's figures of one measured phase, from what was stored or delivered and the processes' samples. */
import type { DeliveryReader } from './delivery';
import type { StoredProgress } from './file-tail';
import type { Capture, Delivery } from './logs-report';
import { K, LINES } from './logs-options';
import type { ProcSampler } from './proc-sampler';

export function captureFigures(
  manager: 'cluster' | 'pm2',
  batch: number,
  tails: StoredProgress[],
  end: number,
  complete: boolean,
  sampler: ProcSampler,
  proc: string,
  rssBeforeMb: number,
): Capture {
  const start = Math.min(...tails.map((t) => t.firstMs ?? Infinity));
  const dropped = tails.reduce((s, t) => s + t.dropped, 0);
  const kept = tails.reduce((s, t) => s + t.kept, 0);
  const seconds = (end - start) / 1000;
  const cpu = sampler.cpuShare(proc, start, end);
  return {
    manager,
    batch,
    lines: LINES * K,
    kept,
    dropped,
    complete,
    missedFiles: tails.reduce((s, t) => s + t.missedFiles, 0),
    seconds,
    linesPerS: kept / seconds,
    cpu,
    machineCpu: sampler.cpuShare('machine', start, end),
    cpuSecondsPerMLines: (cpu * seconds) / (kept / 1e6),
    rssBeforeMb,
    rssPeakMb: sampler.peakRssMb(proc, start, end),
  };
}

export function deliveryFigures(
  manager: 'cluster' | 'pm2',
  mode: string,
  printed: number,
  reader: DeliveryReader,
  complete: boolean,
  sampler: ProcSampler,
  procs: string[],
): Delivery {
  const f = reader.figures(printed);
  const cpu: Record<string, number> = {};
  const rss: Record<string, number> = {};
  for (const p of procs) {
    cpu[p] = sampler.cpuShare(p, f.firstPrintMs, f.lastArrivalMs);
    rss[p] = sampler.peakRssMb(p, f.firstPrintMs, f.lastArrivalMs);
  }
  return {
    manager,
    mode,
    printed,
    complete,
    ...f,
    offeredPerS: printed / ((f.lastPrintMs - f.firstPrintMs + 1) / 1000),
    deliveredPerS: f.received / ((f.lastArrivalMs - f.firstPrintMs) / 1000),
    cpu,
    rssPeakMb: rss,
  };
}
