/**
 * bench/spawn-path: where a crash restart's time goes, one layer of the agent's spawn path at a
 * time, in one process (no agent, no control plane). A `sh` program writes "S id" to a FIFO when
 * it starts and "E id" just before it exits (status 1, after --sleep-ms); an observer process
 * stamps each line (as bench/restart.ts does), and a sample is E → next S. Variants:
 *
 *   raw            child_process.spawn('sh', [program]) with pipes, respawn on 'exit'
 *   process        spawnInstanceProcess, anonymous pipes, respawn in the next turn
 *   + fifos        … with the output FIFOs
 *   + guard        … and the orphan guard told of each group (the agent's path)
 *   instance       an Instance (restart policy, pacer, hooks) with FIFOs and the guard
 *
 * Inside the process it also stamps, per sample: E → `exited` resolved (exit noticed, pipes at
 * EOF) and the time spawn() itself takes. `--ballast-mb N` first fills the JS heap to N MB with
 * small objects, as an agent's heap is: fork copies the page tables.
 *
 *   node dist/bench/spawn-path.js [--restarts 100] [--sleep-ms 50] [--ballast-mb 0] [--only NAME]
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnInstanceProcess, type RunningProcess } from '../agent/supervisor/child-process';
import { Instance } from '../agent/supervisor/instance';
import { OrphanGuard } from '../agent/supervisor/orphan-guard';
import { SpawnPacer } from '../agent/spawn-pacer';
import { createLogger } from '../lib/log';
import { banner, fmt, killAtCleanup, numberOption, percentile, printTable, runMain, sleep, stringOption, tempDir } from './lib/runs';

const RESTARTS = numberOption('restarts', 100);
const SLEEP_MS = numberOption('sleep-ms', 50);
const BALLAST_MB = numberOption('ballast-mb', 0);
const ONLY = stringOption('only');

const PROGRAM = `#!/bin/sh
echo "S $2" > "$1"
sleep $3
echo "E $2" > "$1"
exit 1
`;
const OBSERVER_JS = `const fs = require('fs');
const [fifo, out] = process.argv.slice(2);
const fd = fs.openSync(fifo, 'r+');
const buf = Buffer.alloc(65536);
let rest = '';
for (;;) {
  const n = fs.readSync(fd, buf, 0, buf.length, null);
  const t = process.hrtime.bigint();
  const lines = (rest + buf.toString('latin1', 0, n)).split('\\n');
  rest = lines.pop();
  fs.appendFileSync(out, lines.map((l) => l + ' ' + t + '\\n').join(''));
}
`;

interface Marks { starts: bigint[]; exits: bigint[] }

function marks(file: string, id: string): Marks {
  const out: Marks = { starts: [], exits: [] };
  let text = '';
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const [kind, lineId, ns] = line.split(' ');
    if (lineId !== id || ns === undefined) continue;
    (kind === 'S' ? out.starts : out.exits).push(BigInt(ns));
  }
  return out;
}

/** One variant: `start(n)` starts the n-th process; the loop restarts until RESTARTS starts were seen. */
interface Loop {
  exitedAt: bigint[];
  spawnMs: number[];
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  await banner('spawn-path: crash → next start, layer by layer', [`${RESTARTS} restarts per variant, program sleeps ${SLEEP_MS} ms, ballast ${BALLAST_MB} MB`]);
  // Small objects on the JS heap, as an agent's memory is (a Buffer of that size would be one
  // malloc'd mapping, which forks at a different cost).
  const ballast: unknown[] = [];
  while (process.memoryUsage().heapUsed < BALLAST_MB << 20) for (let i = 0; i < 10_000; i++) ballast.push({ i, s: `x${i}`, a: [i] });
  const dir = tempDir('cluster-bench-spawn-path-');
  const program = path.join(dir, 'crash.sh');
  fs.writeFileSync(program, PROGRAM, { mode: 0o755 });
  const fifo = path.join(dir, 'marks.fifo');
  execFileSync('mkfifo', [fifo]);
  const observed = path.join(dir, 'marks.log');
  fs.writeFileSync(path.join(dir, 'observer.js'), OBSERVER_JS);
  const observer = spawn(process.execPath, [path.join(dir, 'observer.js'), fifo, observed], { stdio: 'inherit' });
  killAtCleanup(observer);
  await sleep(300);
  const outputs = [1, 2, 3, 4].map((n) => ({ stdout: path.join(dir, `out${n}`), stderr: path.join(dir, `err${n}`) }));
  execFileSync('mkfifo', outputs.flatMap((o) => [o.stdout, o.stderr]));
  const logger = createLogger('bench-spawn-path', 'silent');
  const guard = OrphanGuard.start(logger);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const seconds = (SLEEP_MS / 1000).toFixed(3);
  const argsOf = (id: string) => [program, fifo, id, seconds];

  const variants: Array<[string, (id: string) => Loop]> = [
    ['raw', (id) => {
      const loop: Loop = { exitedAt: [], spawnMs: [], stop: async () => void (stopped = true) };
      let stopped = false;
      const once = () => {
        const t0 = performance.now();
        const child = spawn('sh', argsOf(id), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        loop.spawnMs.push(performance.now() - t0);
        child.stdout.resume();
        child.stderr.resume();
        child.on('exit', () => {
          loop.exitedAt.push(process.hrtime.bigint());
          if (!stopped) once();
        });
      };
      once();
      return loop;
    }],
    ...([['process', false, false], ['process + fifos', true, false], ['process + fifos + guard', true, true]] as const).map(
      ([name, fifos, gated], i): [string, (id: string) => Loop] => [name, (id) => {
        let stopped = false;
        let current: RunningProcess | undefined;
        const loop: Loop = { exitedAt: [], spawnMs: [], stop: async () => { stopped = true; await current?.stop(0); } };
        const once = () => {
          const t0 = performance.now();
          const proc = spawnInstanceProcess({
            command: ['sh', ...argsOf(id)].join(' '),
            cwd: dir,
            env,
            output: fifos ? outputs[i] : undefined,
            onLine: () => undefined,
          });
          if (gated) guard.track(proc.pid);
          current = proc;
          loop.spawnMs.push(performance.now() - t0);
          proc.exited.then(() => {
            loop.exitedAt.push(process.hrtime.bigint());
            if (gated) guard.untrack(proc.pid);
            if (!stopped) setImmediate(once);
          }).catch((err: unknown) => console.error(err));
        };
        once();
        return loop;
      }],
    ),
    ['instance', (id) => {
      const pacer = new SpawnPacer();
      const loop: Loop = { exitedAt: [], spawnMs: [], stop: () => instance.stop('done') };
      const instance = new Instance(
        { app: 'bench', instance: 'x.1', type: 'x', command: ['sh', ...argsOf(id)].join(' '), cwd: dir, env, graceMs: 0, output: outputs[3] },
        {
          logger,
          onChange: () => undefined,
          onLine: () => undefined,
          onSpawn: (pid) => guard.track(pid),
          onExit: (pid) => {
            loop.exitedAt.push(process.hrtime.bigint());
            guard.untrack(pid);
          },
          onSpawnTime: (s) => loop.spawnMs.push(s * 1000),
          pace: (fn) => pacer.runSoon(fn),
          spawnNow: (fn) => pacer.tryRunNow(fn),
        },
        // No backoff: every restart is immediate, as a first restart is.
        { initialDelayMs: 0, maxDelayMs: 0, resetAfterMs: 0 },
      );
      instance.start();
      return loop;
    }],
  ];

  const rows = [['variant', 'E → S p50', 'p90', 'E → exit seen p50', 'spawn() p50', 'n']];
  for (const [name, run] of variants) {
    if (ONLY && !name.startsWith(ONLY)) continue;
    const id = name.replace(/[^a-z]+/g, '-');
    const loop = run(id);
    const deadline = Date.now() + 120_000;
    while (marks(observed, id).starts.length < RESTARTS + 1 && Date.now() < deadline) await sleep(50);
    await loop.stop();
    const m = marks(observed, id);
    const gaps: number[] = [];
    const seen: number[] = [];
    for (let i = 0; i < m.exits.length && i + 1 < m.starts.length; i++) {
      gaps.push(Number(m.starts[i + 1]! - m.exits[i]!) / 1e6);
      const exitSeen = loop.exitedAt.find((t) => t > m.exits[i]!);
      if (exitSeen !== undefined) seen.push(Number(exitSeen - m.exits[i]!) / 1e6);
    }
    rows.push([name, `${fmt(percentile(gaps, 50), 2)} ms`, `${fmt(percentile(gaps, 90), 2)} ms`, `${fmt(percentile(seen, 50), 2)} ms`, `${fmt(percentile(loop.spawnMs, 50), 2)} ms`, String(gaps.length)]);
    await sleep(200);
  }
  printTable(rows);
  console.log(`RSS of this process: ${(process.memoryUsage().rss / 1e6).toFixed(1)} MB${ballast.length > 0 ? ` (${BALLAST_MB} MB heap ballast)` : ''}`);
  await guard.close();
}

runMain(main);
