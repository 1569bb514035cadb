/**
 * bench/restart: crash-restart latency — from a process's exit to the start of the next one —
 * for a `sh` program and a Node program that exit (status 1) after ~200 ms, side by side with
 * PM2 (restart_delay 0) and supervisord (autorestart, startsecs=0), same programs, same run.
 *
 * Each program writes "S <id>" to a FIFO when it starts and "E <id>" just before it exits
 * (sh: the `echo` builtin, no fork; Node: fs.writeFileSync); an observer process blocked on
 * the FIFO stamps each line as it arrives, and a gap is E → next S of the same id. A raw
 * child_process.spawn loop (respawn on 'exit', nothing else) on the same programs gives the
 * floor on this machine. Since the load of a shared machine moves within a minute, the same raw
 * restart is also taken once between every two cluster samples ("interleaved"): cluster ÷ that
 * floor compares samples taken seconds apart (--no-interleave to skip; ~25 s more per run).
 * On a quiet machine it reads ~1 ms above the back-to-back loop (single restarts after a
 * pause, and the cluster's own reporting runs meanwhile): an upper bound of the floor.
 *
 * cluster restarts a crashed process at once the first time and then backs off (1 s, 2 s,
 * 4 s …), by design; so its samples are first restarts: one agent, instances added one at a
 * time (scale crashsh=1, 2, … N through the API), each crashing once after ~200 ms (its
 * second run stays up, so no crash loop runs in the background). PM2 and supervisord
 * restart without backoff: their samples are N consecutive restarts of one process.
 * Separately, one cluster instance that always crashes shows the backoff curve.
 *
 * Per run: p50 and p99 of each set of samples; --runs sets of them (min/median/max over runs).
 * One run takes about 2.5 minutes.
 *
 *   node dist/bench/restart.js [--runs 3] [--restarts 100] [--sup-restarts 20] [--baseline 30]
 *        [--no-pm2] [--no-supervisord] [--wait-idle S] [--json FILE] [--keep]
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBenchCluster, waitFor } from './lib/bench-cluster';
import { ensureSupervisor, startPm2, Supervisor, supervisordVersion } from './lib/peers';
import { banner, Figures, flag, fmt, killAtCleanup, numberOption, percentile, printTable, runMain, sleep, tempDir } from './lib/runs';

const RUNS = numberOption('runs', 3);
const RESTARTS = numberOption('restarts', 100);
const SUP_RESTARTS = numberOption('sup-restarts', 20);
const BASELINE = numberOption('baseline', 30);
const BACKOFF_GAPS = numberOption('backoff-gaps', 5);
const INTERLEAVE = !flag('no-interleave');

// "once": crash on the first run only (a marker file per id), stay up afterwards.
// "always": crash on every run. Marks go to the observer's FIFO: `echo` is a shell builtin,
// so the sh program forks nothing to say when it starts and when it exits.
const CRASH_SH = `#!/bin/sh
# crash.sh FIFO MODE ID
echo "S $3" > "$1"
if [ "$2" = once ] && [ -e "$1.$3.crashed" ]; then exec sleep 100000; fi
[ "$2" = once ] && : > "$1.$3.crashed"
sleep 0.2
echo "E $3" > "$1"
exit 1
`;
const CRASH_JS = `// crash.js FIFO MODE ID
const fs = require('fs');
const [fifo, mode, id] = process.argv.slice(2);
fs.writeFileSync(fifo, 'S ' + id + '\\n');
const marker = fifo + '.' + id + '.crashed';
if (mode === 'once' && fs.existsSync(marker)) setInterval(() => {}, 1 << 30);
else {
  if (mode === 'once') fs.writeFileSync(marker, '');
  setTimeout(() => { fs.writeFileSync(fifo, 'E ' + id + '\\n'); process.exit(1); }, 200);
}
`;
/**
 * The observer: its own process, blocked in read(2) on the FIFO, stamps every line the moment it
 * arrives (the same clock for every program and manager). Lines that arrive in one read share a
 * read number: an exit and the next start read together would give a gap of 0, and are dropped.
 */
const OBSERVER_JS = `const fs = require('fs');
const [fifo, out] = process.argv.slice(2);
const fd = fs.openSync(fifo, 'r+');
const buf = Buffer.alloc(65536);
let rest = '', reads = 0;
for (;;) {
  const n = fs.readSync(fd, buf, 0, buf.length, null);
  const t = process.hrtime.bigint();
  reads++;
  const lines = (rest + buf.toString('latin1', 0, n)).split('\\n');
  rest = lines.pop();
  fs.appendFileSync(out, lines.map((l) => l.replace(' ', ' ' + t + ' ') + ' ' + reads + '\\n').join(''));
}
`;

interface Line { kind: 'S' | 'E'; ns: bigint; id: string; read: number }

let observed = '';
const cache: Line[] = [];
const starts = new Map<string, number>();
let offset = 0;
let partial = '';
/** Every line the observer wrote so far (read incrementally: polling must stay cheap). */
function readLines(): Line[] {
  let fd: number;
  try {
    fd = fs.openSync(observed, 'r');
  } catch {
    return cache;
  }
  try {
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      if (n <= 0) break;
      offset += n;
      const lines = (partial + buf.toString('latin1', 0, n)).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = /^([SE]) (\d+) (\S+) (\d+)$/.exec(line);
        if (!m) continue;
        cache.push({ kind: m[1] as 'S' | 'E', ns: BigInt(m[2]!), id: m[3]!, read: Number(m[4]) });
        if (m[1] === 'S') starts.set(m[3]!, (starts.get(m[3]!) ?? 0) + 1);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return cache;
}

/** How many times `id` started. */
function startsOf(id: string): number {
  readLines();
  return starts.get(id) ?? 0;
}

let coalesced = 0;
/** Exit → next start gaps (ms) per id, in order. */
function gaps(lines = readLines()): Map<string, number[]> {
  const lastExit = new Map<string, Line>();
  const out = new Map<string, number[]>();
  coalesced = 0;
  for (const l of lines) {
    if (l.kind === 'E') lastExit.set(l.id, l);
    else if (lastExit.has(l.id)) {
      const exit = lastExit.get(l.id)!;
      lastExit.delete(l.id);
      if (exit.read === l.read) {
        coalesced++;
        continue;
      }
      const list = out.get(l.id) ?? [];
      list.push(Number(l.ns - exit.ns) / 1e6);
      out.set(l.id, list);
    }
  }
  return out;
}

function record(figures: Figures, name: string, samples: number[], target?: string): void {
  figures.add(`${name} p50`, 'ms', percentile(samples, 50), { target, digits: 1 });
  figures.add(`${name} p99`, 'ms', percentile(samples, 99), { digits: 1 });
  console.log(`${name}: ${samples.length} restarts, p50 ${fmt(percentile(samples, 50))} ms, p90 ${fmt(percentile(samples, 90))} ms, p99 ${fmt(percentile(samples, 99))} ms, max ${fmt(Math.max(...samples))} ms`);
}

async function main(): Promise<void> {
  const withSupervisor = !flag('no-supervisord') && ensureSupervisor();
  await banner('restart: crash → next start latency', [
    `sh and Node programs that exit after ~200 ms; per run: cluster ${RESTARTS} first restarts each; PM2 ${RESTARTS} consecutive; supervisord ${SUP_RESTARTS}; raw spawn ${BASELINE}; ${RUNS} runs`,
  ]);
  const figures = new Figures('restart');
  const dir = tempDir('cluster-bench-restart-');
  const progDir = path.join(dir, 'programs');
  fs.mkdirSync(progDir);
  fs.writeFileSync(path.join(progDir, 'crash.sh'), CRASH_SH, { mode: 0o755 });
  fs.writeFileSync(path.join(progDir, 'crash.js'), CRASH_JS);
  const fifo = path.join(dir, 'marks.fifo');
  execFileSync('mkfifo', [fifo]);
  fs.writeFileSync(path.join(progDir, 'observer.js'), OBSERVER_JS);
  observed = path.join(dir, 'marks.log');
  const observer = spawn(process.execPath, [path.join(progDir, 'observer.js'), fifo, observed], { stdio: 'inherit' });
  killAtCleanup(observer);
  await sleep(300);
  const count = (id: string) => gaps().get(id)?.length ?? 0;
  const programs = { sh: ['sh', path.join(progDir, 'crash.sh')], node: [process.execPath, path.join(progDir, 'crash.js')] } as const;
  /** One raw crash → restart of `id` (the raw loop's spawn, respawn on 'exit'), then its second run is killed. */
  const rawRestart = async (argv: readonly string[], id: string) => {
    const start = () => spawn(argv[0]!, [...argv.slice(1), fifo, 'always', id], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const first = start();
    first.stdout.resume();
    first.stderr.resume();
    let second: ReturnType<typeof start> | undefined;
    first.on('exit', () => {
      second = start();
      second.stdout.resume();
      second.stderr.resume();
    });
    await waitFor(`a raw restart of ${id}`, () => startsOf(id) >= 2 && second !== undefined, 30_000, 20);
    try {
      process.kill(-second!.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  };

  const kit = await startBenchCluster(path.join(dir, 'cluster'));
  await kit.startReadyAgent({ id: 'agent-1', capacity: 1000 });
  const pm2 = flag('no-pm2') ? undefined : await startPm2(dir);
  if (pm2) console.log(`PM2 ${pm2.version()}`);
  if (withSupervisor) console.log(`supervisord ${supervisordVersion()}`);
  let curve: number[] = [];

  for (let run = 1; run <= RUNS; run++) {
    const r = `r${run}`;
    console.log(`--- run ${run} of ${RUNS}`);

    // ---- raw spawn floor ----
    for (const [kind, argv] of [['sh', ['sh', path.join(progDir, 'crash.sh')]], ['node', [process.execPath, path.join(progDir, 'crash.js')]]] as const) {
      const id = `raw-${kind}-${r}`;
      let stopped = false;
      const once = () => {
        if (stopped) return;
        const child = spawn(argv[0], [...argv.slice(1), fifo, 'always', id], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
        child.stdout.resume();
        child.stderr.resume();
        child.on('exit', () => once());
      };
      once();
      await waitFor(`${BASELINE} raw restarts`, () => count(id) >= BASELINE, 120_000, 50);
      stopped = true;
      await sleep(400);
      record(figures, `raw spawn loop, ${kind}`, gaps().get(id)!.slice(0, BASELINE));
    }

    // ---- cluster: first restarts of instances added one at a time ----
    // A release per run, so that every run's ids (and marker files) are new.
    const procfile = [
      `crashsh: sh crash.sh ${fifo} once ${r}-$CLUSTER_INSTANCE`,
      `crashnode: node crash.js ${fifo} once ${r}-$CLUSTER_INSTANCE`,
      `loopsh: sh crash.sh ${fifo} always ${r}-$CLUSTER_INSTANCE`,
      '',
    ].join('\n');
    await kit.deployProcfile('restarts', procfile, { 'crash.sh': CRASH_SH, 'crash.js': CRASH_JS });
    for (const [kind, type] of [['sh', 'crashsh'], ['node', 'crashnode']] as const) {
      for (let n = 1; n <= RESTARTS; n++) {
        await kit.scale('restarts', { [type]: n });
        await waitFor(`${type}.${n} to crash and restart`, () => startsOf(`${r}-${type}.${n}`) >= 2, 30_000);
        if (INTERLEAVE) await rawRestart(programs[kind], `rawi-${kind}-${r}-${n}`);
      }
      const samples = [...gaps()].filter(([id]) => id.startsWith(`${r}-${type}.`)).map(([, g]) => g[0]!);
      record(figures, `cluster, ${kind}`, samples, kind === 'sh' ? 'p50 ≤ 5 ms' : undefined);
      if (INTERLEAVE) {
        const floor = [...gaps()].filter(([id]) => id.startsWith(`rawi-${kind}-${r}-`)).map(([, g]) => g[0]!);
        record(figures, `raw spawn, ${kind}, interleaved`, floor);
        figures.add(`cluster ÷ raw interleaved p50, ${kind}`, '×', percentile(samples, 50) / percentile(floor, 50), { digits: 2, target: kind === 'sh' ? '≤ 1.2' : undefined });
      }
      await kit.scale('restarts', { [type]: 0 });
    }

    // The backoff curve (first run only) runs alongside the peers: one process every few seconds.
    const loopStart = Date.now();
    if (run === 1) await kit.scale('restarts', { loopsh: 1 });

    // ---- PM2: consecutive restarts of one process ----
    if (pm2) {
      for (const [kind, app] of [['sh', { script: 'sh', args: ['crash.sh', fifo, 'always', `pm2-sh-${r}`], interpreter: 'none' }], ['node', { script: 'crash.js', args: [fifo, 'always', `pm2-node-${r}`] }]] as const) {
        const eco = path.join(dir, `pm2-${kind}.json`);
        // min_uptime below the program's 200 ms and a high max_restarts: otherwise PM2 gives up after 16 "unstable" restarts.
        fs.writeFileSync(eco, JSON.stringify({ apps: [{ name: `crash${kind}`, cwd: progDir, exec_mode: 'fork', autorestart: true, restart_delay: 0, min_uptime: 100, max_restarts: 100_000, ...app }] }));
        await pm2.run(['start', eco]);
        await waitFor(`${RESTARTS} PM2 restarts (${kind})`, () => count(`pm2-${kind}-${r}`) >= RESTARTS, 300_000, 50);
        await pm2.run(['delete', `crash${kind}`]);
        record(figures, `PM2, ${kind}`, gaps().get(`pm2-${kind}-${r}`)!.slice(0, RESTARTS));
      }
    }

    // ---- supervisord: both programs at once (it restarts on a 1 s tick at worst) ----
    if (withSupervisor) {
      const sup = new Supervisor(path.join(dir, `supervisord-${r}`));
      await sup.start([
        { name: 'crashsh', command: `sh ${path.join(progDir, 'crash.sh')} ${fifo} always sup-sh-${r}`, startsecs: 0, autorestart: true, directory: progDir },
        { name: 'crashnode', command: `${process.execPath} ${path.join(progDir, 'crash.js')} ${fifo} always sup-node-${r}`, startsecs: 0, autorestart: true, directory: progDir },
      ]);
      const enough = (kind: string) => count(`sup-${kind}-${r}`) >= SUP_RESTARTS;
      await waitFor(`${SUP_RESTARTS} supervisord restarts`, () => enough('sh') && enough('node'), 600_000, 100);
      await sup.stop();
      for (const kind of ['sh', 'node']) record(figures, `supervisord, ${kind}`, gaps().get(`sup-${kind}-${r}`)!.slice(0, SUP_RESTARTS));
    }

    // ---- cluster's backoff curve ----
    if (run === 1) {
      await waitFor(`${BACKOFF_GAPS} restarts of a crash loop`, () => count(`${r}-loopsh.1`) >= BACKOFF_GAPS, 120_000 + (Date.now() - loopStart), 100);
      await kit.scale('restarts', { loopsh: 0 });
      curve = gaps().get(`${r}-loopsh.1`)!.slice(0, BACKOFF_GAPS);
    }
  }

  console.log('\ncluster crash loop (a sh program exiting after ~200 ms, every time): exit → next start');
  printTable([['restart', 'gap'], ...curve.map((g, i) => [`#${i + 1}`, `${fmt(g, 1)} ms`])]);
  curve.forEach((g, i) => figures.add(`cluster crash loop: restart #${i + 1}`, 'ms', g, { digits: 0 }));

  gaps();
  if (coalesced > 0) console.log(`(${coalesced} exit/start pairs read together by the observer were left out)`);
  const ratio = (peer: string, kind: string) => figures.summary(`${peer}, ${kind} p50`).median / figures.summary(`cluster, ${kind} p50`).median;
  if (pm2) for (const kind of ['sh', 'node']) figures.add(`PM2 ÷ cluster p50, ${kind}`, '×', ratio('PM2', kind), { digits: 1 });
  if (withSupervisor) for (const kind of ['sh', 'node']) figures.add(`supervisord ÷ cluster p50, ${kind}`, '×', ratio('supervisord', kind), { digits: 0 });
  figures.report({ runs: RUNS, restarts: RESTARTS, supRestarts: SUP_RESTARTS, baseline: BASELINE, pm2: pm2?.version(), supervisord: withSupervisor ? supervisordVersion() : undefined });
}

runMain(main);
