/**
 * bench/log-store: the agent's log store (agent/logs/log-store.ts) in-process, no daemons.
 *
 *   1. append: --lines 100-byte lines (default 1,000,000), 640 a turn (about one 64 KiB pipe
 *      read, as the process layer delivers them): lines/s in append() alone and to disk, CPU,
 *      and how many lines the disk copy dropped (at ≈300 MB/s a disk stall of more than ~15 ms
 *      overflows the pending-bytes bound: the bound at work, not a loss of the memory tail).
 *   2. a slow reader: 50,000 lines past a follower whose queue holds 1,000: heap growth (a
 *      guard against keeping every line for the cursor; the unit tests assert the bound itself).
 *
 * Each case --runs times (default 3); min/median/max.
 *
 *   node dist/bench/log-store.js [--runs 3] [--lines 1000000] [--wait-idle S] [--json FILE]
 */
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { LogStore } from '../agent/logs/log-store';
import type { QueuedCursor } from '../agent/logs/live-cursor';
import { createLogger } from '../lib/log';
import { banner, Figures, numberOption, runMain, tempDir } from './lib/runs';

const RUNS = numberOption('runs', 3);
const LINES = numberOption('lines', 1_000_000);
const PER_TURN = 640;
const logger = createLogger('bench-log-store', 'silent');

async function append(figures: Figures, dir: string): Promise<void> {
  const store = LogStore.open({ dir, logger });
  const text = 'x'.repeat(100);
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let appendNs = 0n;
  for (let done = 0; done < LINES; ) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PER_TURN && done < LINES; i++, done++) store.append('bench', 'web.1', 'stdout', text);
    appendNs += process.hrtime.bigint() - t0;
    await nextTick();
  }
  await store.close();
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const stats = store.stats();
  if (stats.lines !== LINES) throw new Error(`the store counted ${stats.lines} lines, not ${LINES}`);
  figures.add('append() alone', 'lines/s', LINES / (Number(appendNs) / 1e9), { digits: 0 });
  figures.add('appended and written to disk', 'lines/s', LINES / wallS, { digits: 0 });
  figures.add('CPU per million lines', 'ms', ((cpu.user + cpu.system) / 1000) * (1_000_000 / LINES), { digits: 0 });
  figures.add('dropped from the disk copy', 'lines', stats.diskDroppedLines, { digits: 0 });
}

async function slowReader(figures: Figures, dir: string): Promise<void> {
  const store = LogStore.open({ dir, logger });
  const { live } = store.read({ app: 'app' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
  const cursor = live as QueuedCursor;
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 50_000; i++) store.append('app', 'web.1', 'stdout', `line ${i}`);
  global.gc?.();
  figures.add('heap growth, 50k lines past a 1,000-line reader queue', 'MiB', (process.memoryUsage().heapUsed - before) / 1024 / 1024, { digits: 1 });
  if (cursor.queuedLines > 1000) throw new Error(`the reader queue holds ${cursor.queuedLines} lines`);
  cursor.close();
  await store.close();
}

runMain(async () => {
  await banner('log store: appends and a slow reader, in-process', [`${LINES.toLocaleString('en-US')} 100-byte lines, ${PER_TURN} a turn; ${RUNS} runs (heap figures are exact with node --expose-gc)`]);
  const figures = new Figures('log-store');
  const dir = tempDir('bench-log-store-');
  for (let run = 1; run <= RUNS; run++) {
    await append(figures, path.join(dir, `append-${run}`));
    await slowReader(figures, path.join(dir, `reader-${run}`));
  }
  figures.report({ lines: LINES, perTurn: PER_TURN, runs: RUNS });
});
