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
 *     rate (250k lines/s in all), one line a write and (`paced64`) 64 lines a write as a
 *     block-buffered program writes. `pm2 logs --raw` on the same flood for comparison.
 *
 *   node dist/bench/logs.js [--k 4] [--lines 1000000] [--delivery-lines 500000]
 *        [--paced-rate 250000] [--paced-seconds 4] [--runs 1] [--no-pm2] [--json FILE]
 *        [--phases cap1,cap64,flood,paced,paced64,pm2] [--wait-idle SECONDS] [--profile DIR] [--keep]
 *        [--timeline]
 *
 * --profile DIR: CPU profiles of the control plane, the agent and the client (summarize one with
 * bench/cpuprofile-top.ts). BENCH_AGENT_NODE_ARGS / BENCH_CONTROL_PLANE_NODE_ARGS: more Node
 * flags for those daemons (e.g. `--trace-gc`; their output is in the run's dir, with --keep);
 * BENCH_CLI_NODE_ARGS: for the `cluster logs` follower. --timeline: each delivery phase's largest
 * delay per 250 ms of print time, and the part of it before the agent captured the line.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startBenchCluster } from './lib/bench-cluster';
import { clusterCapture, clusterDelivery, type ClusterRun } from './lib/logs-cluster-phases';
import { APP, DELIVERY_LINES, JSON_OUT, K, LINES, PACED_RATE, PACED_SECONDS, PHASES, PROFILE_DIR, profileArgs, RUNS, WAIT_IDLE_S, WITH_PM2 } from './lib/logs-options';
import { pm2Capture, pm2Delivery } from './lib/logs-pm2-phases';
import { fmtRate, pct, report, summary, type RunResult } from './lib/logs-report';
import { OthersCpu } from './lib/logs-watch';
import { WRITER, writeWorkloadApp } from './lib/log-workload';
import { Pm2 } from './lib/pm2';
import { ProcSampler } from './lib/proc-sampler';
import { cleanUp, onCleanup, sleep, tempDir } from './lib/runs';

let interrupted = false;

/** Busy CPU of the whole machine over the next second (1 = one core). */
async function busyNow(): Promise<number> {
  const idle = new ProcSampler({ machine: 0 }, 100);
  await sleep(1000);
  idle.stop();
  const s = idle.samples.get('machine')!;
  return idle.cpuShare('machine', s[0]!.t, s[s.length - 1]!.t);
}

async function oneRun(run: number): Promise<RunResult> {
  const dir = tempDir('cluster-bench-logs-');
  const signals = path.join(dir, 'signals');
  fs.mkdirSync(signals);
  fs.mkdirSync(path.join(dir, 'pm2-logs'));
  const pacedPerWriter = Math.round(PACED_RATE / K);
  const pacedLines = Math.round(pacedPerWriter * PACED_SECONDS);
  const appDir = path.join(dir, 'app');
  writeWorkloadApp(appDir, signals, pacedLines, pacedPerWriter);

  const log = (msg: string) => {
    if (interrupted) throw new Error('interrupted');
    console.error(`[run ${run}] ${msg}`);
  };
  let busy = await busyNow();
  if (WAIT_IDLE_S > 0 && busy > 0.15) {
    log(`the machine is ${pct(busy)} busy: waiting up to ${WAIT_IDLE_S} s for it to be idle…`);
    const deadline = Date.now() + WAIT_IDLE_S * 1000;
    while (busy > 0.15 && Date.now() < deadline) busy = await busyNow();
  }
  const result: RunResult = { busyBefore: busy, othersMax: 0, capture: [], delivery: [] };
  const others = new OthersCpu();
  if (result.busyBefore > 0.2) log(`warning: the machine was ${pct(result.busyBefore)} busy before the run (other work skews the figures)`);

  log('starting etcd, a control plane and one agent…');
  // Stopped at clean-up (startBenchCluster registers it).
  const cluster = await startBenchCluster(path.join(dir, 'cluster'), { controlPlaneNodeArgs: profileArgs('control-plane') });
  if (PROFILE_DIR) {
    // --cpu-prof writes its profile at exit: the control plane must exit cleanly too.
    onCleanup(async () => void (await cluster.controlPlane?.stop('SIGTERM')));
  }
  const agent = await cluster.startReadyAgent({ id: 'bench-agent', nodeArgs: profileArgs('agent') });
  await cluster.ok(['apps:create', APP]);
  await cluster.ok(['deploy', appDir, '-a', APP]);
  const onCluster: ClusterRun = { cluster, agent, signals, others };

  for (const type of ['cap1', 'cap64'] as const) {
    if (!PHASES.has(type)) continue;
    log(`capture, cluster, ${type === 'cap1' ? 'one line a write' : '64 lines a write'}…`);
    result.capture.push(await clusterCapture(onCluster, type));
  }

  if (PHASES.has('flood')) {
    log('delivery, cluster, flood…');
    result.delivery.push(await clusterDelivery(onCluster, 'flood', DELIVERY_LINES));
  }
  if (PHASES.has('paced')) {
    log(`delivery, cluster, paced at ${fmtRate(PACED_RATE)} lines/s…`);
    result.delivery.push(await clusterDelivery(onCluster, 'paced', pacedLines));
  }
  if (PHASES.has('paced64')) {
    log(`delivery, cluster, paced at ${fmtRate(PACED_RATE)} lines/s, 64 lines a write…`);
    result.delivery.push(await clusterDelivery(onCluster, 'paced64', pacedLines));
  }

  if (PROFILE_DIR) await cluster.controlPlane?.stop('SIGTERM');
  await cluster.stop();

  if (WITH_PM2 && PHASES.has('pm2')) {
    if (!Pm2.available()) throw new Error('PM2 is not installed under bench/node_modules: run `bash bench/run.sh logs` (or --no-pm2)');
    const pm2 = new Pm2(path.join(dir, 'pm2-home'));
    onCleanup(() => pm2.kill());
    log(`starting PM2 ${pm2.version()}…`);
    const god = await pm2.start();
    others.roots.push(god);
    const onPm2 = { pm2, god, dir, signals, others };
    for (const batch of [1, 64]) {
      log(`capture, PM2, ${batch === 1 ? 'one line a write' : '64 lines a write'}…`);
      result.capture.push(await pm2Capture(onPm2, batch));
    }
    log('delivery, pm2 logs, flood…');
    result.delivery.push(await pm2Delivery(onPm2));
    await pm2.kill();
  }
  await cleanUp();
  result.othersMax = others.max;
  if (others.max > 0.1) console.error(`[run ${run}] warning: other processes used up to ${pct(others.max)} CPU during a measurement`);
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
