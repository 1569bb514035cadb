/**
 * bench/throughput: instances placed and reported up per second, through real etcd.
 *
 * A private etcd, one control plane (the real daemon), and 1,000 simulated agents
 * (bench/lib/sim-agents.ts: the real agent protocol, one gRPC connection each, spread over
 * two processes) that report `up` as soon as they are assigned something instead of
 * spawning. Then: scale from 0 to 100,000 instances (10 apps × worker=10,000, all scale
 * calls at once) and time until every instance is assigned (the agents received it on
 * their assignment streams) and reported up (its status written to etcd: the ReportStatus
 * reply came back). Then scale back to 0 and time until every agent holds nothing.
 * Repeated --runs times on the same cluster.
 *
 *   node dist/bench/throughput.js [--agents 1000] [--instances 100000] [--apps 10] [--runs 3]
 *        [--sim-processes 2] [--etcd-history S] [--cp-prof DIR] [--cp-node-args "FLAGS"] [--wait-idle S] [--json FILE] [--keep]
 *
 * --etcd-history S is the control plane's own flag (how long etcd keeps old versions before the
 * leader compacts them; default 300 s): with a few seconds, the runs of one benchmark, which
 * follow each other within a minute, each start on a compacted etcd, as runs minutes apart do.
 */
import * as path from 'node:path';
import { startBenchCluster } from './lib/bench-cluster';
import { SimFleet } from './lib/sim-fleet';
import { banner, cpuSeconds, Figures, flag, numberOption, rssMb, runMain, sleep, stringOption, tempDir } from './lib/runs';

const AGENTS = numberOption('agents', 1000);
const INSTANCES = numberOption('instances', 100_000);
const APPS = numberOption('apps', 10);
const RUNS = numberOption('runs', 3);
const SIM_PROCESSES = numberOption('sim-processes', 2);
const CP_PROF = stringOption('cp-prof');
const TIMEOUT_MS = numberOption('timeout', 180) * 1000;
const ETCD_HISTORY = stringOption('etcd-history');
/** More Node flags for the control plane, space-separated (e.g. "--trace-gc" or "--max-old-space-size=256"). */
const CP_NODE_ARGS = (stringOption('cp-node-args') ?? '').split(' ').filter(Boolean);

async function main(): Promise<void> {
  await banner('throughput: instances placed and reported up per second, through real etcd', [
    `${AGENTS} simulated agents in ${SIM_PROCESSES} processes, one control plane, etcd; 0 → ${INSTANCES.toLocaleString('en-US')} instances (${APPS} apps); ${RUNS} runs`,
  ]);
  const figures = new Figures('throughput');
  const dir = tempDir('cluster-bench-throughput-');
  const perApp = Math.ceil(INSTANCES / APPS);
  const cpNodeArgs = [...(CP_PROF ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(CP_PROF)] : []), ...CP_NODE_ARGS];
  const cpArgs = ['--max-per-type', String(Math.max(1000, perApp)), ...(ETCD_HISTORY ? ['--etcd-history', ETCD_HISTORY] : [])];
  const kit = await startBenchCluster(dir, { controlPlaneArgs: cpArgs, controlPlaneNodeArgs: cpNodeArgs });
  const cp = kit.controlPlane!;
  const etcdPid = kit.etcd.member(0).pid;
  console.log(`control plane pid ${cp.pid}, RSS ${rssMb(cp.pid)!.toFixed(0)} MB before any agent`);

  const t0 = Date.now();
  const fleet = await SimFleet.start(kit.server, AGENTS, { processes: SIM_PROCESSES, capacity: Math.ceil((2 * INSTANCES) / AGENTS) });
  const joinMs = Date.now() - t0;
  figures.add(`${AGENTS} agents register + watch`, 'ms', joinMs, { digits: 0 });
  await sleep(3_000); // heartbeats settle
  const idleRss = rssMb(cp.pid)!;
  figures.add(`control-plane RSS, ${AGENTS} agents idle`, 'MB', idleRss);
  console.log(`${AGENTS} agents registered and watching in ${joinMs} ms; control-plane RSS ${idleRss.toFixed(0)} MB`);

  const apps = Array.from({ length: APPS }, (_, i) => `tp-${String(i).padStart(3, '0')}`);
  for (const app of apps) await kit.deployProcfile(app, 'worker: sleep 100000\n');

  for (let run = 1; run <= RUNS; run++) {
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(cp.pid) ?? 0)), 100);
    const cpu0 = { cp: cpuSeconds(cp.pid)!, etcd: cpuSeconds(etcdPid)!, sims: fleet.pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0) };
    const metrics0 = await etcdMetrics(kit.etcd.urls[0]!);
    const start = Date.now();
    const assigned = fleet.when((c) => c.assigned >= INSTANCES, TIMEOUT_MS, `${INSTANCES} instances assigned`);
    const up = fleet.when((c) => c.up >= INSTANCES, TIMEOUT_MS, `${INSTANCES} instances up`);
    // Awaited below; when `assigned` fails first, this one's timeout must not crash the process
    // as an unhandled rejection before the clean-up stops etcd (it was left running).
    up.catch(() => undefined);
    await Promise.all(apps.map((app, i) => kit.scale(app, { worker: Math.min(perApp, INSTANCES - i * perApp) })));
    const tAssigned = await assigned;
    console.log(`run ${run}: all ${INSTANCES.toLocaleString('en-US')} assigned after ${((tAssigned - start) / 1000).toFixed(2)} s`);
    const tUp = await up;
    clearInterval(sampler);
    const metrics1 = await etcdMetrics(kit.etcd.urls[0]!);
    const delta = (name: string) => (metrics1[name] ?? 0) - (metrics0[name] ?? 0);
    const fsyncs = delta('etcd_disk_wal_fsync_duration_seconds_count');
    const proposals = delta('etcd_server_proposals_committed_total');
    console.log(`run ${run}: etcd: ${delta('etcd_mvcc_put_total').toLocaleString('en-US')} puts, ${(metrics1.etcd_debugging_mvcc_keys_total ?? 0).toLocaleString('en-US')} keys at the end, ${proposals} proposals committed, ${fsyncs} WAL fsyncs averaging ${((delta('etcd_disk_wal_fsync_duration_seconds_sum') / Math.max(1, fsyncs)) * 1000).toFixed(1)} ms, ${delta('etcd_disk_backend_commit_duration_seconds_count')} backend commits averaging ${((delta('etcd_disk_backend_commit_duration_seconds_sum') / Math.max(1, delta('etcd_disk_backend_commit_duration_seconds_count'))) * 1000).toFixed(1)} ms`);
    const secs = (tUp - start) / 1000;
    const cpu = { cp: cpuSeconds(cp.pid)! - cpu0.cp, etcd: cpuSeconds(etcdPid)! - cpu0.etcd, sims: fleet.pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0) - cpu0.sims };
    figures.add(`0 → ${INSTANCES / 1000}k: all assigned`, 's', (tAssigned - start) / 1000, { digits: 2 });
    figures.add(`0 → ${INSTANCES / 1000}k: all reported up`, 's', secs, { digits: 2 });
    figures.add('instances placed + up per second', '/s', INSTANCES / secs, { target: '≥ 15,000/s', digits: 0 });
    figures.add('control-plane CPU during scale-up', 'cores', cpu.cp / secs, { digits: 2 });
    figures.add('etcd CPU during scale-up', 'cores', cpu.etcd / secs, { digits: 2 });
    figures.add('simulated agents CPU during scale-up', 'cores', cpu.sims / secs, { digits: 2 });
    figures.add(`control-plane peak RSS, ${INSTANCES / 1000}k instances`, 'MB', peakRss);
    console.log(`run ${run}: assigned in ${((tAssigned - start) / 1000).toFixed(2)} s, all up in ${secs.toFixed(2)} s → ${Math.round(INSTANCES / secs)} instances/s; CPU s: control plane ${cpu.cp.toFixed(1)}, etcd ${cpu.etcd.toFixed(1)}, sims ${cpu.sims.toFixed(1)}; control-plane peak RSS ${peakRss.toFixed(0)} MB`);

    const downStart = Date.now();
    const empty = fleet.when((c) => c.assigned === 0, TIMEOUT_MS, 'every agent to hold nothing');
    await Promise.all(apps.map((app) => kit.scale(app, { worker: 0 })));
    const tEmpty = await empty;
    figures.add(`${INSTANCES / 1000}k → 0: all removed from agents`, 's', (tEmpty - downStart) / 1000, { digits: 2 });
    console.log(`run ${run}: scaled to 0 in ${((tEmpty - downStart) / 1000).toFixed(2)} s`);
    await sleep(3_000); // `gone` reports drain
    figures.add('control-plane RSS after scaling back to 0', 'MB', rssMb(cp.pid) ?? NaN);
    // Grows with the history etcd keeps (every version of every key) until a compaction.
    figures.add('etcd database in use after the run', 'MB', ((await etcdMetrics(kit.etcd.urls[0]!))['etcd_mvcc_db_total_size_in_use_in_bytes'] ?? NaN) / 1e6, { digits: 1 });
  }
  const c = fleet.counts();
  console.log(`simulated agents: ${c.reports} reports (${c.failedReports} failed), ${c.leaseLost} leases lost, ${c.streamBreaks} stream breaks`);
  await fleet.stop();
  if (flag('keep')) console.log(`control-plane log: ${cp.log}`);
  await cp.stop('SIGTERM', 5_000);
  figures.report({ agents: AGENTS, instances: INSTANCES, apps: APPS, runs: RUNS, simProcesses: SIM_PROCESSES });
}

/** etcd's own counters (its /metrics page, Prometheus text): name → value, histograms' _sum and _count included. */
async function etcdMetrics(url: string): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    }
    return out;
  } catch {
    return {};
  }
}

runMain(main);
