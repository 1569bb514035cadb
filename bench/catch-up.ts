/**
 * bench/catch-up: how fast the agent serves a follower that fell behind, from its files, alone
 * (in-process, no daemons, no network): a follower of K instances (default 4) falls --lines
 * lines behind (default 1,000,000 of 100 bytes), then is drained as the log service drains it
 * for a `cluster logs -f` client (packed batches of about 64 KiB). Lines/s and CPU µs per line of
 * the drain alone. `--objects`: lines as objects, packed by packLines (the path before issue 14's
 * packed catch-up, and still the one of a reader that filters by source).
 *
 *   node dist/bench/catch-up.js [--runs 3] [--lines 1000000] [--k 4] [--objects] [--json FILE]
 */
import * as path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { LogStore } from '../agent/logs/log-store';
import type { LogLine } from '../agent/logs/log-line';
import { packLines, textSize } from '../lib/log-packing';
import { createLogger } from '../lib/log';
import { banner, Figures, flag, numberOption, runMain, tempDir } from './lib/runs';

const RUNS = numberOption('runs', 3);
const LINES = numberOption('lines', 1_000_000);
const K = numberOption('k', 4);
const OBJECTS = flag('objects');
const PER_TURN = 640;
/** As agent/server/logs-service.ts sends a packed follower. */
const PACKED_BATCH = 2000;
const PACKED_BYTES = 64 * 1024;
const logger = createLogger('bench-catch-up', 'silent');

/** What the log service does with a batch of line objects: messages of about 64 KiB, packed. */
function packAsService(lines: LogLine[]): number {
  let bytes = 0;
  let start = 0;
  while (start < lines.length) {
    let end = start;
    let chars = 0;
    while (end < lines.length && (end === start || chars < PACKED_BYTES)) chars += textSize(lines[end++]!) + 40;
    bytes += packLines(lines.slice(start, end)).length;
    start = end;
  }
  return bytes;
}

async function catchUp(figures: Figures, dir: string): Promise<void> {
  const store = LogStore.open({ dir, logger, maxBytesPerInstance: 1024 * 1024 * 1024, maxBytesTotal: 8 * 1024 * 1024 * 1024 });
  const { live } = store.read({ app: 'bench' }, { limit: 0, follow: true, maxQueuedLines: 1000 });
  // nextBatch is new with the packed catch-up: looked up, so that this file runs on an older tree (--objects) too.
  const cursor = live as NonNullable<typeof live> & { nextBatch?: (max: number, lingerMs: number, bytes: number) => Promise<LogLine[] | { packed: Buffer; lines: number } | null> };
  if (!OBJECTS && cursor.nextBatch === undefined) throw new Error('this tree has no packed catch-up: run with --objects');
  const text = 'x'.repeat(100);
  for (let done = 0; done < LINES; ) {
    for (let i = 0; i < PER_TURN && done < LINES; i++, done++) store.append('bench', `web.${(done % K) + 1}`, 'stdout', text);
    await nextTick();
  }
  if (store.stats().diskDroppedLines > 0) throw new Error('the disk copy dropped lines: the drain would be short');
  global.gc?.();
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let got = 0;
  let bytes = 0;
  while (got < LINES) {
    const batch = OBJECTS ? await cursor.next(PACKED_BATCH, 5) : await cursor.nextBatch!(PACKED_BATCH, 5, PACKED_BYTES);
    if (batch === null) throw new Error('the cursor closed');
    if (Array.isArray(batch)) {
      got += batch.length;
      bytes += packAsService(batch);
    } else {
      got += batch.lines;
      bytes += batch.packed.length;
    }
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  if (got !== LINES) throw new Error(`drained ${got} lines, not ${LINES}`);
  figures.add('drained from the files', 'lines/s', LINES / wallS, { digits: 0 });
  figures.add('CPU per line', 'µs', (cpu.user + cpu.system) / LINES, { digits: 2 });
  figures.add('packed bytes per line', 'B', bytes / LINES, { digits: 1 });
  cursor.close();
  await store.close();
}

runMain(async () => {
  await banner('catch-up: a follower far behind, drained from the files, in-process', [
    `${LINES.toLocaleString('en-US')} 100-byte lines of ${K} instances; ${OBJECTS ? 'lines as objects, packLines' : 'packed from the files'}; ${RUNS} runs`,
  ]);
  const figures = new Figures('catch-up');
  const dir = tempDir('bench-catch-up-');
  for (let run = 1; run <= RUNS; run++) await catchUp(figures, path.join(dir, `run-${run}`));
  figures.report({ lines: LINES, k: K, objects: OBJECTS });
});
