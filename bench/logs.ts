/**
 * bench/logs: how many log lines an agent captures, and how many reach a `cluster logs
 * --tail` client through the control plane and how late, next to PM2 on the same workload.
 *
 * Workload: K writer processes (bench/log-writer.ts) each print 100-byte lines as fast as
 * they can, one line per write(2) (and a variant batching 64 lines a write).
 *
 * (a) capture: a private etcd, a control plane and ONE agent; an app whose process type
 *     runs the writer is scaled to K; we watch the agent's log files until the last line
 *     of every writer is stored. Lines/s (first print → last line stored), the agent's CPU
 *     and peak RSS. Then PM2 (fork mode, one out file per writer) on the same workload.
 * (b) delivery: `cluster logs -a APP -n 0 --tail --json` as a child process; once it shows
 *     every writer's hello line the writers go; we parse its output: lines/s, print →
 *     arrival delay p50/p99, lines lost (sequence gaps), and how many of those the agent
 *     reported with a marker (since issue 14 only "N lines missed (removed by log rotation …)":
 *     a slow follower reads on from the agent's files). Flooding, and paced at the target
 *     rate (250k lines/s in all). `pm2 logs --raw` on the same flood for comparison.
 *
 *   node dist/bench/logs.js [--k 4] [--lines 1000000] [--delivery-lines 500000]
 *        [--paced-rate 250000] [--paced-seconds 4] [--runs 1] [--no-pm2] [--json FILE]
 *        [--phases cap1,cap64,flood,paced,pm2] [--wait-idle SECONDS] [--profile DIR] [--keep]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, startBenchCluster, waitFor, type Daemon, type TestCluster } from './lib/bench-cluster';
import { sleep } from './lib/runs';
import { AgentInstanceTail, PlainFileTail, type StoredProgress } from './lib/file-tail';
import { DeliveryReader } from './lib/delivery';
import { fmtRate, pct, report, summary, type Capture, type Delivery, type RunResult } from './lib/logs-report';
import { othersCpu, ProcSampler, snapshotAll } from './lib/proc-sampler';
import { option } from './lib/args';
import { Pm2 } from './lib/pm2';

// ---- options ---------------------------------------------------------------------------

function stringOption(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const K = option('k', 4);
const LINES = option('lines', 1_000_000);
const DELIVERY_LINES = option('delivery-lines', 500_000);
const PACED_RATE = option('paced-rate', 250_000);
const PACED_SECONDS = option('paced-seconds', 4);
const RUNS = option('runs', 1);
const WITH_PM2 = !process.argv.includes('--no-pm2');
const JSON_OUT = stringOption('json');
const PROFILE_DIR = stringOption('profile');
const KEEP = process.argv.includes('--keep');
/** Before each run, wait up to this long for the machine to be idle (others' work skews figures). */
const WAIT_IDLE_S = process.argv.includes('--wait-idle') ? option('wait-idle', 600) : 0;
/** Which parts to run (for profiling one of them): cap1, cap64, flood, paced, pm2. */
const PHASES = new Set((stringOption('phases') ?? 'cap1,cap64,flood,paced,pm2').split(','));
const APP = 'logbench';
/** No progress for this long ends a phase (what arrived by then is reported). */
const STALL_MS = 10_000;
/** A delivery phase ends at the latest this long after the writers go. */
const DELIVERY_CAP_MS = 45_000;

/** Processes whose descendants are ours (the bench; PM2's daemon, which detaches). */
const roots: number[] = [process.pid];
/** The most CPU other processes used during any measured phase of the current run. */
let othersMax = 0;

/** Measures a phase's window and notes how much CPU other processes took meanwhile. */
async function watchingOthers<T>(measure: () => Promise<T>): Promise<T> {
  const before = snapshotAll();
  const result = await measure();
  othersMax = Math.max(othersMax, othersCpu(before, snapshotAll(), roots));
  return result;
}

/** What to undo, last first, at the end of a run or on failure or Ctrl-C. */
const cleanups: Array<() => Promise<void>> = [];

// ---- the workload ----------------------------------------------------------------------

const WRITER = path.join(__dirname, 'log-writer.js');

function writerArgs(phase: string, signals: string, lines: number, batch: number, extra: string[] = []): string[] {
  return ['--lines', String(lines), '--batch', String(batch), '--signal-dir', signals, '--phase', phase, ...extra];
}

function procfile(signals: string, pacedLines: number, pacedRatePerWriter: number): string {
  const node = process.execPath;
  const line = (type: string, args: string[]) => `${type}: ${node} writer.js ${args.join(' ')}`;
  return [
    line('cap1', writerArgs('cap1', signals, LINES, 1)),
    line('cap64', writerArgs('cap64', signals, LINES, 64)),
    line('flood', writerArgs('flood', signals, DELIVERY_LINES, 1, ['--hello'])),
    line('paced', writerArgs('paced', signals, pacedLines, 1, ['--rate', String(pacedRatePerWriter), '--hello'])),
    '',
  ].join('\n');
}

async function waitReady(signals: string, phase: string, ids: string[]): Promise<void> {
  await waitFor(`${ids.length} ${phase} writers to start`, () => ids.every((id) => fs.existsSync(path.join(signals, `${phase}.ready.${id}`))), 60_000, 20);
}

function go(signals: string, phase: string): void {
  fs.writeFileSync(path.join(signals, `${phase}.go`), '');
}

/** Polls the stored files until every writer's last line is there (or nothing moves for STALL_MS). */
async function watchStored(tails: Array<StoredProgress & { poll(): void; close(): void }>, lines: number): Promise<{ end: number; complete: boolean }> {
  let progressAt = Date.now();
  let lastSum = -1;
  try {
    for (;;) {
      for (const t of tails) t.poll();
      const now = Date.now();
      if (tails.every((t) => t.kept + t.dropped >= lines)) return { end: now, complete: true };
      const sum = tails.reduce((s, t) => s + t.bytes, 0);
      if (sum !== lastSum) {
        lastSum = sum;
        progressAt = now;
      } else if (now - progressAt > STALL_MS) return { end: progressAt, complete: false };
      await sleep(10);
    }
  } finally {
    for (const t of tails) t.close();
  }
}

function captureFigures(
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

// ---- cluster ---------------------------------------------------------------------------

async function clusterCapture(cluster: TestCluster, agent: Daemon, signals: string, type: 'cap1' | 'cap64'): Promise<Capture> {
  const ids = Array.from({ length: K }, (_, i) => `${type}.${i + 1}`);
  const logs = path.join(cluster.agentDir('bench-agent'), 'logs', APP);
  const tails = ids.map((id) => new AgentInstanceTail(path.join(logs, id)));
  await cluster.ok(['scale', `${type}=${K}`, '-a', APP]);
  await waitReady(signals, type, ids);
  await sleep(200); // let the agent settle after the spawns
  const sampler = new ProcSampler({ agent: agent.pid, machine: 0 }, 50);
  const rssBefore = sampler.samples.get('agent')![0]!.rssMb;
  go(signals, type);
  const { end, complete } = await watchingOthers(() => watchStored(tails, LINES));
  sampler.stop();
  await scaleDown(cluster, type);
  return captureFigures('cluster', type === 'cap1' ? 1 : 64, tails, end, complete, sampler, 'agent', rssBefore);
}

async function scaleDown(cluster: TestCluster, type: string): Promise<void> {
  await cluster.ok(['scale', `${type}=0`, '-a', APP]);
  await waitFor(`${type} to stop`, async () => {
    const ps = JSON.parse((await cluster.ok(['ps', '-a', APP, '--json'])).stdout) as { instances: Array<{ type: string }> };
    return !ps.instances.some((i) => i.type === type);
  }, 30_000, 100);
}

function startFollower(cluster: TestCluster): ChildProcess {
  const nodeArgs = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, 'cli')] : [];
  return spawn(process.execPath, [...nodeArgs, CLI, 'logs', '-a', APP, '-n', '0', '--tail', '--json'], {
    env: cluster.env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until every writer's lines arrived (or were reported missed), nothing moves for STALL_MS, or the cap. */
async function watchDelivery(reader: DeliveryReader, ids: string[], lines: number, goAt: number): Promise<boolean> {
  const printed = ids.length * lines;
  let last = -1;
  let progressAt = Date.now();
  for (;;) {
    // Every line arrived or was reported missed (the newest may be the ones dropped: a
    // writer that finished first has its last lines pushed out by the others).
    if (reader.received + reader.markedMissed >= printed) return true;
    const now = Date.now();
    if (reader.received !== last) {
      last = reader.received;
      progressAt = now;
    } else if (now - progressAt > (reader.sawLast(ids, lines) ? 1000 : STALL_MS)) return false;
    if (now - goAt > DELIVERY_CAP_MS) return false;
    await sleep(20);
  }
}

function deliveryFigures(
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

async function clusterDelivery(cluster: TestCluster, agent: Daemon, signals: string, type: 'flood' | 'paced', lines: number): Promise<Delivery> {
  const ids = Array.from({ length: K }, (_, i) => `${type}.${i + 1}`);
  const follower = startFollower(cluster);
  cleanups.push(() => stopChild(follower, 'SIGKILL'));
  const reader = new DeliveryReader(follower.stdout!, true);
  try {
    await cluster.ok(['scale', `${type}=${K}`, '-a', APP]);
    await waitReady(signals, type, ids);
    await waitFor('the follower to show every writer', () => ids.every((id) => reader.hellos.has(id)), 30_000, 20);
    const sampler = new ProcSampler({ agent: agent.pid, 'control plane': cluster.controlPlane!.pid, client: follower.pid!, bench: process.pid, machine: 0 }, 50);
    reader.startCounting();
    const goAt = Date.now();
    go(signals, type);
    const complete = await watchingOthers(() => watchDelivery(reader, ids, lines, goAt));
    sampler.stop();
    return deliveryFigures('cluster', type === 'flood' ? 'flood' : `paced ${fmtRate(PACED_RATE)}/s`, lines * K, reader, complete, sampler, ['agent', 'control plane', 'client', 'bench', 'machine']);
  } finally {
    await stopChild(follower, 'SIGINT');
    await scaleDown(cluster, type);
  }
}

// ---- PM2 -------------------------------------------------------------------------------

async function pm2Capture(pm2: Pm2, god: number, dir: string, signals: string, batch: number): Promise<Capture> {
  const phase = `pm2cap${batch}`;
  const ids = Array.from({ length: K }, (_, i) => `p${batch}.${i + 1}`);
  const out = (id: string) => path.join(dir, 'pm2-logs', `${id}.out.log`);
  await pm2.startApps(
    ids.map((id) => ({
      name: id,
      script: process.execPath,
      args: [WRITER, '--id', id, ...writerArgs(phase, signals, LINES, batch)],
      out: out(id),
      err: path.join(dir, 'pm2-logs', `${id}.err.log`),
      cwd: dir,
    })),
    path.join(dir, `${phase}.config.json`),
  );
  await waitReady(signals, phase, ids);
  await sleep(200);
  const tails = ids.map((id) => new PlainFileTail(out(id)));
  const sampler = new ProcSampler({ pm2: god, machine: 0 }, 50);
  const rssBefore = sampler.samples.get('pm2')![0]!.rssMb;
  go(signals, phase);
  const { end, complete } = await watchingOthers(() => watchStored(tails, LINES));
  sampler.stop();
  await pm2.deleteAll();
  return captureFigures('pm2', batch, tails, end, complete, sampler, 'pm2', rssBefore);
}

async function pm2Delivery(pm2: Pm2, god: number, dir: string, signals: string): Promise<Delivery> {
  const phase = 'pm2flood';
  const ids = Array.from({ length: K }, (_, i) => `pf.${i + 1}`);
  const follower = pm2.follow();
  cleanups.push(() => stopChild(follower, 'SIGKILL'));
  const reader = new DeliveryReader(follower.stdout!, false);
  try {
    await sleep(1000); // `pm2 logs` has no "connected" signal; the hellos below prove it
    await pm2.startApps(
      ids.map((id) => ({
        name: id,
        script: process.execPath,
        args: [WRITER, '--id', id, ...writerArgs(phase, signals, DELIVERY_LINES, 1, ['--hello'])],
        out: path.join(dir, 'pm2-logs', `${id}.out.log`),
        err: path.join(dir, 'pm2-logs', `${id}.err.log`),
        cwd: dir,
      })),
      path.join(dir, `${phase}.config.json`),
    );
    await waitReady(signals, phase, ids);
    await waitFor('pm2 logs to show every writer', () => ids.every((id) => reader.hellos.has(id)), 30_000, 20);
    const sampler = new ProcSampler({ pm2: god, client: follower.pid!, bench: process.pid, machine: 0 }, 50);
    reader.startCounting();
    const goAt = Date.now();
    go(signals, phase);
    const complete = await watchingOthers(() => watchDelivery(reader, ids, DELIVERY_LINES, goAt));
    sampler.stop();
    return deliveryFigures('pm2', 'flood', DELIVERY_LINES * K, reader, complete, sampler, ['pm2', 'client', 'bench', 'machine']);
  } finally {
    await stopChild(follower, 'SIGTERM');
    await pm2.deleteAll();
  }
}

// ---- one run ---------------------------------------------------------------------------

let cleaning: Promise<void> | undefined;
let interrupted = false;

/** Runs the clean-ups; a second caller (Ctrl-C during a failure) waits for the same ones. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      try {
        await cleanups.pop()!();
      } catch (err) {
        console.error(`clean-up: ${(err as Error).message}`);
      }
    }
  })().finally(() => {
    cleaning = undefined;
  });
  return cleaning;
}

async function oneRun(run: number): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-bench-logs-'));
  cleanups.push(async () => {
    if (KEEP) console.error(`kept ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });
  const signals = path.join(dir, 'signals');
  const appDir = path.join(dir, 'app');
  fs.mkdirSync(signals);
  fs.mkdirSync(appDir);
  fs.mkdirSync(path.join(dir, 'pm2-logs'));
  const pacedPerWriter = Math.round(PACED_RATE / K);
  const pacedLines = Math.round(pacedPerWriter * PACED_SECONDS);
  fs.copyFileSync(WRITER, path.join(appDir, 'writer.js'));
  fs.writeFileSync(path.join(appDir, 'Procfile'), procfile(signals, pacedLines, pacedPerWriter));

  const log = (msg: string) => {
    if (interrupted) throw new Error('interrupted');
    console.error(`[run ${run}] ${msg}`);
  };
  const busyNow = async () => {
    const idle = new ProcSampler({ machine: 0 }, 100);
    await sleep(1000);
    idle.stop();
    const s = idle.samples.get('machine')!;
    return idle.cpuShare('machine', s[0]!.t, s[s.length - 1]!.t);
  };
  let busy = await busyNow();
  if (WAIT_IDLE_S > 0 && busy > 0.15) {
    log(`the machine is ${pct(busy)} busy: waiting up to ${WAIT_IDLE_S} s for it to be idle…`);
    const deadline = Date.now() + WAIT_IDLE_S * 1000;
    while (busy > 0.15 && Date.now() < deadline) busy = await busyNow();
  }
  const result: RunResult = { busyBefore: busy, othersMax: 0, capture: [], delivery: [] };
  othersMax = 0;
  if (result.busyBefore > 0.2) log(`warning: the machine was ${pct(result.busyBefore)} busy before the run (other work skews the figures)`);

  log('starting etcd, a control plane and one agent…');
  const profile = (what: string) => (PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, what)] : []);
  const cluster = await startBenchCluster(path.join(dir, 'cluster'), { controlPlaneNodeArgs: profile('control-plane') });
  cleanups.push(() => cluster.stop());
  if (PROFILE_DIR) {
    // --cpu-prof writes its profile at exit: the control plane must exit cleanly too.
    cleanups.push(async () => void (await cluster.controlPlane?.stop('SIGTERM')));
  }
  const agent = await cluster.startReadyAgent({ id: 'bench-agent', nodeArgs: profile('agent') });
  await cluster.ok(['apps:create', APP]);
  await cluster.ok(['deploy', appDir, '-a', APP]);

  for (const type of ['cap1', 'cap64'] as const) {
    if (!PHASES.has(type)) continue;
    log(`capture, cluster, ${type === 'cap1' ? 'one line a write' : '64 lines a write'}…`);
    result.capture.push(await clusterCapture(cluster, agent, signals, type));
  }

  if (PHASES.has('flood')) {
    log('delivery, cluster, flood…');
    result.delivery.push(await clusterDelivery(cluster, agent, signals, 'flood', DELIVERY_LINES));
  }
  if (PHASES.has('paced')) {
    log(`delivery, cluster, paced at ${fmtRate(PACED_RATE)} lines/s…`);
    result.delivery.push(await clusterDelivery(cluster, agent, signals, 'paced', pacedLines));
  }

  if (PROFILE_DIR) await cluster.controlPlane?.stop('SIGTERM');
  await cluster.stop();

  if (WITH_PM2 && PHASES.has('pm2')) {
    if (!Pm2.available()) throw new Error('PM2 is not installed under bench/node_modules: run `bash bench/run.sh logs` (or --no-pm2)');
    const pm2 = new Pm2(path.join(dir, 'pm2-home'));
    cleanups.push(() => pm2.kill());
    log(`starting PM2 ${pm2.version()}…`);
    const god = await pm2.start();
    roots.push(god);
    for (const batch of [1, 64]) {
      log(`capture, PM2, ${batch === 1 ? 'one line a write' : '64 lines a write'}…`);
      result.capture.push(await pm2Capture(pm2, god, dir, signals, batch));
    }
    log('delivery, pm2 logs, flood…');
    result.delivery.push(await pm2Delivery(pm2, god, dir, signals));
    await pm2.kill();
  }
  await cleanUp();
  result.othersMax = othersMax;
  if (othersMax > 0.1) console.error(`[run ${run}] warning: other processes used up to ${pct(othersMax)} CPU during a measurement`);
  return result;
}

async function main(): Promise<void> {
  if (!fs.existsSync(WRITER)) throw new Error(`${WRITER} is missing: build first (bash scripts/setup.sh)`);
  console.error(`bench/logs: ${os.cpus().length} CPUs, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; K=${K}`);
  const runs: RunResult[] = [];
  let discarded = 0;
  for (let run = 1; run <= RUNS; run++) {
    const r = await oneRun(run);
    if (WAIT_IDLE_S > 0 && r.othersMax > 0.15 && discarded < 2 * RUNS) {
      // Waiting for an idle machine was asked for: a run that other work disturbed does not count.
      discarded++;
      console.error(`[run ${run}] other processes took ${pct(r.othersMax)} CPU during a measurement: discarded, running it again`);
      run--;
      continue;
    }
    runs.push(r);
    console.log(`\n=== run ${run} of ${RUNS} ===`);
    console.log(report(r, { k: K, lines: LINES }));
  }
  if (RUNS > 1) {
    console.log(`\n=== ${RUNS} runs: min / median / max ===`);
    console.log(summary(runs));
  }
  if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ k: K, lines: LINES, deliveryLines: DELIVERY_LINES, pacedRate: PACED_RATE, runs }, null, 2));
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench/logs: ${signal}, cleaning up…`);
    interrupted = true;
    cleanUp()
      .catch((err: unknown) => console.error(`bench/logs: cleaning up failed: ${(err as Error).message}`))
      .finally(() => process.exit(130));
  });
}

main().then(
  () => process.exit(0),
  async (err: unknown) => {
    if (!interrupted) console.error(`bench/logs failed: ${(err as Error).stack ?? String(err)}`);
    await cleanUp();
    process.exit(interrupted ? 130 : 1);
  },
);
