/**
 * The workload of `bench/logs`: prints fixed-size 100-byte lines to stdout as fast as it
 * can (or at a set rate), one line per write(2) or `--batch` lines per write, then idles
 * until it is stopped (so no process manager sees it exit and restarts it, and none may
 * drop output that was still in flight at the exit).
 *
 * Each line is `@ID SEQ MS xxx…x\n`: the writer's id, a 9-digit per-writer sequence
 * number from 0, the wall-clock time of the write in ms (13 digits), padding to 100 bytes.
 * The benchmark reads them back to count lines, find gaps and time delivery.
 *
 * Start-up is synchronised through files: when loaded, the writer creates
 * `DIR/PHASE.ready.ID`, then waits for `DIR/PHASE.go` before printing. With `--hello` it
 * prints `@ID hello` to stdout every 50 ms while waiting (so a log follower can prove it
 * sees every writer before the clock starts).
 *
 * Self-contained (node: modules only): the benchmark copies it into the app it deploys.
 *
 *   node log-writer.js --lines N [--batch B] [--rate LINES_PER_S] --signal-dir DIR --phase P [--id ID] [--hello]
 */
import * as fs from 'node:fs';

const LINE = 100;

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1]!;
  if (fallback === undefined) {
    process.stderr.write(`log-writer: --${name} is required\n`);
    process.exit(2);
  }
  return fallback;
}

const id = arg('id', process.env.CLUSTER_INSTANCE ?? `pid${process.pid}`);
const total = Number(arg('lines'));
const batch = Math.max(1, Number(arg('batch', '1')));
const rate = Number(arg('rate', '0'));
const dir = arg('signal-dir');
const phase = arg('phase');
const hello = process.argv.includes('--hello');

// Line layout: "@" ID " " SEQ(9) " " MS(13) " " x… "\n"
const head = `@${id} `;
const seqAt = head.length;
const msAt = seqAt + 10;
const padAt = msAt + 14;
if (padAt + 1 > LINE) throw new Error(`id ${id} is too long for a ${LINE}-byte line`);
const template = Buffer.alloc(LINE, 'x');
template.write(head, 0, 'latin1');
template[seqAt + 9] = 0x20;
template[msAt + 13] = 0x20;
template[LINE - 1] = 0x0a;

const buf = Buffer.alloc(LINE * batch);
for (let i = 0; i < batch; i++) template.copy(buf, i * LINE);

/** Writes `value` as `width` decimal digits (zero-padded) at `off`. */
function digits(b: Buffer, off: number, width: number, value: number): void {
  for (let p = off + width - 1; p >= off; p--) {
    const q = Math.floor(value / 10);
    b[p] = 0x30 + (value - q * 10);
    value = q;
  }
}

function writeAll(b: Buffer, len: number): void {
  let off = 0;
  while (off < len) {
    try {
      off += fs.writeSync(1, b, off, len - off);
    } catch (err) {
      // A non-blocking stdout that is full: wait a little (only if the manager made it so).
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

let seq = 0;

/** Prints up to `n` lines, `batch` a write; stops at `total`. */
function print(n: number): void {
  const end = Math.min(total, seq + n);
  while (seq < end) {
    const k = Math.min(batch, end - seq);
    const ms = Date.now();
    for (let i = 0; i < k; i++) {
      digits(buf, i * LINE + seqAt, 9, seq + i);
      digits(buf, i * LINE + msAt, 13, ms);
    }
    writeAll(buf, k * LINE);
    seq += k;
  }
}

function run(): void {
  if (rate <= 0) {
    print(total);
    return idle();
  }
  // Paced: as many lines as the rate allows so far, checked every millisecond.
  const started = Date.now();
  const tick = () => {
    const due = Math.floor(((Date.now() - started) * rate) / 1000) + 1;
    if (due > seq) print(due - seq);
    if (seq < total) setTimeout(tick, 1);
    else idle();
  };
  tick();
}

function idle(): void {
  setInterval(() => undefined, 1 << 30);
}

fs.writeFileSync(`${dir}/${phase}.ready.${id}`, '');
const go = `${dir}/${phase}.go`;
let lastHello = 0;
const wait = () => {
  if (fs.existsSync(go)) return run();
  if (hello && Date.now() - lastHello >= 50) {
    lastHello = Date.now();
    writeAll(Buffer.from(`@${id} hello\n`), id.length + 8);
  }
  setTimeout(wait, 2);
};
wait();
