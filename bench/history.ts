/**
 * bench/history: `cluster logs -n N` and `-n all` of an app whose lines lie on several hosts:
 * how long the CLI takes to print them, and how much memory the control plane takes on for it.
 *
 * A private etcd, one control plane, --hosts agents (default 3) and one instance on each that
 * prints --lines lines (default 300,000, `seq`) and then sleeps. Then, --runs times each,
 * `cluster logs -a APP --json -n N` (default 100,000: the most that is gathered and merged in
 * memory) and `-n all` (streamed), their output counted as it comes: seconds, lines, and the
 * control plane's peak RSS (sampled every 20 ms) above its RSS just before.
 *
 *   node dist/bench/history.js [--hosts 3] [--lines 300000] [--n 100000] [--runs 3] [--json FILE]
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { CLI, startBenchCluster, waitFor } from './lib/bench-cluster';
import { banner, Figures, numberOption, rssMb, runMain, tempDir } from './lib/runs';

const HOSTS = numberOption('hosts', 3);
const LINES = numberOption('lines', 300_000);
const N = numberOption('n', 100_000);
const RUNS = numberOption('runs', 3);

interface Read {
  seconds: number;
  lines: number;
  /** Control-plane RSS above what it was when the command started, at its highest, MB. */
  rssGrowth: number;
}

/** Runs `cluster logs -a APP --json ARGS…`, counting output lines, sampling `pid`'s RSS. */
async function readLogs(env: NodeJS.ProcessEnv, cpPid: number, args: string[]): Promise<Read> {
  const before = rssMb(cpPid)!;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(cpPid) ?? 0)), 20);
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [CLI, 'logs', '-a', 'hist', '--json', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let lines = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`cluster logs ${args.join(' ')} exited ${code}: ${stderr}`);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, lines, rssGrowth: peak - before };
}

runMain(async () => {
  await banner('history: `cluster logs -n N` and `-n all` across hosts', [
    `${HOSTS} hosts, one instance each printing ${LINES.toLocaleString('en-US')} lines; -n ${N.toLocaleString('en-US')} and -n all; ${RUNS} runs`,
  ]);
  const figures = new Figures('history');
  const dir = tempDir('cluster-bench-history-');
  const kit = await startBenchCluster(dir);
  const cpPid = kit.controlPlane!.pid;
  for (let i = 1; i <= HOSTS; i++) kit.startAgent({ id: `host-${i}` });
  await kit.waitForAgents(HOSTS);
  await kit.deployProcfile('hist', `printer: seq 1 ${LINES} && exec sleep 100000\n`);
  await kit.scale('hist', { printer: HOSTS });
  await waitFor(`one instance up on each of ${HOSTS} hosts`, async () => {
    const up = (await kit.instances('hist')).filter((i) => i.state === 'up');
    return up.length === HOSTS && new Set(up.map((i) => i.host)).size === HOSTS;
  }, 60_000);
  const env = { ...process.env, CLUSTER_SERVER: kit.server, CLUSTER_HOME: path.join(dir, 'home') };
  // Every host's lines stored (and each instance's "Starting process" line).
  await waitFor(`${HOSTS} × ${LINES} lines stored`, async () => (await readLogs(env, cpPid, ['-n', 'all'])).lines >= HOSTS * (LINES + 1), 120_000, 1_000);

  for (let run = 1; run <= RUNS; run++) {
    for (const [label, args] of [[`-n ${N}`, ['-n', String(N)]], ['-n all', ['-n', 'all']]] as const) {
      const r = await readLogs(env, cpPid, [...args]);
      figures.add(`${label}: seconds`, 's', r.seconds, { digits: 2 });
      figures.add(`${label}: lines printed`, 'lines', r.lines, { digits: 0 });
      figures.add(`${label}: control-plane RSS growth at its peak`, 'MB', r.rssGrowth);
      console.log(`run ${run}: ${label}: ${r.lines} lines in ${r.seconds.toFixed(2)} s, control plane +${r.rssGrowth.toFixed(0)} MB at its peak`);
    }
  }
  figures.report({ hosts: HOSTS, lines: LINES, n: N, runs: RUNS });
});
