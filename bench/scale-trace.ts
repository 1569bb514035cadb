/**
 * bench/scale-trace: where the time of `scale worker=200` goes, stage by stage, from the daemons'
 * own log lines (info level, their default) and /proc. For each run through the API (or the CLI,
 * `--cli`, with `--wait`), from the call's start: the formation written (control plane), the plan
 * written (leader), each agent's first and last `process started`, all processes in /proc, all
 * `up` in ps (polled states-only, as `--wait` does); and the CPU time each daemon spent until
 * all were running and until all were up. The figures of bench/scale-up.ts, taken apart.
 *
 *   node dist/bench/scale-trace.js [--cli [--wait]] [--runs 3] [--count 200] [--agents 3] [--idle S] [--cpu-prof DIR]
 */
import { startBenchCluster, waitFor } from './lib/bench-cluster';
import { callUnary } from '../lib/grpc-call';
import { waitForProcesses } from './lib/peers';
import { banner, flag, numberOption, runMain, sleep, stringOption, tempDir } from './lib/runs';
import * as fs from 'node:fs';
import * as path from 'node:path';

const RUNS = numberOption('runs', 3);
const COUNT = numberOption('count', 200);
const AGENTS = numberOption('agents', 3);
const CPU_PROF = stringOption('cpu-prof');
/** Seconds of quiet before each run (the benchmark's cluster runs come after PM2's and supervisord's). */
const IDLE_S = numberOption('idle', 1);
const TIMEOUT_MS = 60_000;
const CLI = flag('cli');
const WAIT = flag('wait');

interface LogLine {
  time: number;
  msg: string;
}

/** CPU seconds (user + system) of every process whose command line names `marker`, by a short name. */
function cpuOf(marker: string): Map<string, number> {
  const out = new Map<string, number>();
  const tick = 100; // USER_HZ
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!cmd.some((a) => a.includes(marker))) continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const name = cmd.includes('--name') ? cmd[cmd.indexOf('--name') + 1]! : cmd.includes('control-plane') ? 'control plane' : path.basename(cmd[0]!);
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / tick);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function readLog(file: string): LogLine[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The first and last time of `msg` in `lines` at or after `from`, and how many. */
function span(lines: LogLine[], msg: string, from: number, until: number): { first: number; last: number; n: number } | undefined {
  const times = lines.filter((l) => l.msg === msg && l.time >= from && l.time <= until).map((l) => l.time);
  if (times.length === 0) return undefined;
  return { first: Math.min(...times), last: Math.max(...times), n: times.length };
}

async function main(): Promise<void> {
  await banner('scale-trace: where scale worker=200 spends its time', [`${AGENTS} agents, ${RUNS} runs through ${CLI ? 'the CLI (`cluster scale`, without --wait)' : 'the API'}`]);
  const dir = tempDir('cluster-bench-scaletrace-');
  const kit = await startBenchCluster(path.join(dir, 'cluster'), CPU_PROF ? { controlPlaneNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] } : {});
  for (let i = 1; i <= AGENTS; i++) {
    await kit.startReadyAgent({ id: `agent-${i}`, capacity: 1000, nodeArgs: CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : undefined });
  }
  await kit.deployProcfile('scaletrace', 'worker: sleep 100004\n');
  const argv = ['sleep', '100004'];
  await sleep(1_500);
  // A first run fetches the slug on every agent: not part of the figures.
  await kit.scale('scaletrace', { worker: AGENTS });
  await waitForProcesses(argv, AGENTS, TIMEOUT_MS, 25);
  await kit.scale('scaletrace', { worker: 0 });
  await waitForProcesses(argv, 0, TIMEOUT_MS, 25);
  await sleep(IDLE_S * 1_000);

  const runs: Array<{ start: number; running: number; up: number; end: number; cpu: string }> = [];
  for (let run = 1; run <= RUNS; run++) {
    const cpuBefore = cpuOf(dir);
    const start = Date.now();
    const procs = waitForProcesses(argv, COUNT, TIMEOUT_MS, 10);
    if (CLI) {
      const cmd = await kit.cli(['scale', `worker=${COUNT}`, '-a', 'scaletrace', ...(WAIT ? ['--wait', '--timeout', '60'] : [])]);
      if (cmd.code !== 0) throw new Error(`cluster scale failed: ${cmd.stderr}`);
    } else {
      await kit.scale('scaletrace', { worker: COUNT });
    }
    const running = await procs;
    const cpuRunning = cpuOf(dir);
    // Polled as `--wait` does (states only: no agent is asked for usage).
    const up = await waitFor(`${COUNT} up`, async () => {
      const ps = await callUnary(kit.api, 'Ps', { app: 'scaletrace', states_only: true });
      return ps.instances.filter((i) => i.state === 'up').length >= COUNT ? Date.now() : undefined;
    }, TIMEOUT_MS, 20);
    const cpuAfter = cpuOf(dir);
    const ms = (m: Map<string, number>, name: string) => ((m.get(name) ?? 0) - (cpuBefore.get(name) ?? 0)) * 1000;
    const cpu = [...cpuAfter.keys()].map((name) => `${name} ${ms(cpuRunning, name).toFixed(0)} / ${ms(cpuAfter, name).toFixed(0)}`).join(', ');
    runs.push({ start, running, up, end: Date.now(), cpu });
    await kit.scale('scaletrace', { worker: 0 });
    await waitForProcesses(argv, 0, TIMEOUT_MS, 25);
    while ((await kit.instances('scaletrace')).length > 0) await sleep(50);
    await sleep(IDLE_S * 1_000);
  }
  await sleep(300); // pino writes asynchronously
  // A profile is written at a clean exit only (the harness SIGKILLs the control plane).
  if (CPU_PROF) for (const cp of kit.controlPlanes) await cp.kill('SIGTERM');
  const cp = readLog(path.join(dir, 'cluster', 'control-plane-1.log'));
  const agents = Array.from({ length: AGENTS }, (_, i) => readLog(path.join(dir, 'cluster', `agent-${i + 1}.log`)));
  for (const [i, r] of runs.entries()) {
    const at = (t: number | undefined) => (t === undefined ? '–' : `${t - r.start} ms`);
    const formation = span(cp, 'formation changed', r.start, r.end);
    const plan = span(cp, 'applied scheduling plan', r.start, r.end);
    console.log(`run ${i + 1}: formation written ${at(formation?.first)}, plan written ${at(plan?.first)}`);
    for (const [a, lines] of agents.entries()) {
      const s = span(lines, 'process started', r.start, r.end);
      console.log(`  agent-${a + 1}: ${s?.n ?? 0} started, first ${at(s?.first)}, last ${at(s?.last)}`);
    }
    console.log(`  ${COUNT} in /proc ${at(r.running)}, ${COUNT} up in ps ${at(r.up)}`);
    console.log(`  CPU ms from the call until all running / all up: ${r.cpu}`);
  }
}

runMain(main);
