/**
 * bench/scale-up: 200 real processes, side by side with PM2 and supervisord, same program,
 * same run.
 *
 *   cluster      etcd + a control plane + 3 agents on this machine; `cluster scale worker=200
 *                --wait` (the CLI, as a user runs it) from worker=0.
 *   PM2          `pm2 scale worker 200` from 1 (fork mode, PM2 cannot scale to 0).
 *   supervisord  a program with numprocs=200, autostart=false, startsecs=0 (RUNNING as soon as
 *                spawned, as PM2's `online`; cluster's `up` waits for a worker to have run 2 s,
 *                docs/boot-checks.md, so "processes running" is the figure to compare);
 *                `supervisorctl start worker:*`.
 *
 * The program is `sleep N` (N differs per manager so that /proc tells them apart). Two figures
 * per manager and run: "processes running" — from the command's start until 200 processes run
 * that program (/proc polled every 25 ms, the same for all three) — and "command returns": the
 * manager's own command (scale --wait / pm2 scale / supervisorctl start) returned. For cluster,
 * the same again through the API (no CLI process to start) shows what the CLI's start costs,
 * and the CPU the agents used from the API call until the 200 run.
 * Between runs every manager scales back down (0, 1, stop) and its processes are gone before
 * the next, and each figure starts on a quiet machine (see settle()).
 *
 *   node dist/bench/scale-up.js [--runs 5] [--count 200] [--agents 3] [--no-pm2] [--no-supervisord] [--wait-idle S] [--json FILE] [--keep]
 */
import { startBenchCluster, type TestCluster } from './lib/bench-cluster';
import { ensureSupervisor, pidsRunning, startPm2, Supervisor, supervisordVersion, timedPm2, waitForProcesses } from './lib/peers';
import { banner, cpuSeconds, Figures, flag, fmt, machineBusy, numberOption, runMain, sleep, tempDir } from './lib/runs';
import * as fs from 'node:fs';
import * as path from 'node:path';

const RUNS = numberOption('runs', 5);
const COUNT = numberOption('count', 200);
const AGENTS = numberOption('agents', 3);
const POLL_MS = 25;
const TIMEOUT_MS = 60_000;

async function main(): Promise<void> {
  const withSupervisor = !flag('no-supervisord') && ensureSupervisor();
  await banner('scale-up: 0 → 200 real processes', [`cluster (${AGENTS} agents) vs PM2 vs supervisord; program: sleep; ${RUNS} runs`]);
  const figures = new Figures('scale-up');
  const dir = tempDir('cluster-bench-scaleup-');

  // cluster
  const kit = await startBenchCluster(path.join(dir, 'cluster'));
  for (let i = 1; i <= AGENTS; i++) await kit.startReadyAgent({ id: `agent-${i}`, capacity: 1000 });
  await kit.deployProcfile('scaleup', 'worker: sleep 100001\n');
  const clusterArgv = ['sleep', '100001'];
  await sleep(1_500); // the scheduler waits 1 s after agents join before it places anything

  // PM2
  const pm2 = flag('no-pm2') ? undefined : await startPm2(dir);
  const pm2Argv = ['sleep', '100002'];
  if (pm2) {
    const eco = path.join(dir, 'pm2-scaleup.json');
    fs.writeFileSync(eco, JSON.stringify({ apps: [{ name: 'worker', script: 'sleep', args: ['100002'], interpreter: 'none', exec_mode: 'fork', instances: 1, cwd: dir }] }));
    await pm2.run(['start', eco]);
    await waitForProcesses(pm2Argv, 1, TIMEOUT_MS);
    console.log(`PM2 ${pm2.version()}`);
  }

  // supervisord
  const sup = withSupervisor ? new Supervisor(path.join(dir, 'supervisord')) : undefined;
  const supArgv = ['sleep', '100003'];
  if (sup) {
    await sup.start([{ name: 'worker', command: 'sleep 100003', numprocs: COUNT, autostart: false, startsecs: 0 }]);
    console.log(supervisordVersion() ? `supervisord ${supervisordVersion()}` : 'supervisord');
  }

  for (let run = 1; run <= RUNS; run++) {
    // cluster
    {
      await settle();
      const start = Date.now();
      const procs = waitForProcesses(clusterArgv, COUNT, TIMEOUT_MS, POLL_MS);
      const cmd = await kit.cli(['scale', `worker=${COUNT}`, '-a', 'scaleup', '--wait', '--timeout', '60']);
      if (cmd.code !== 0) throw new Error(`cluster scale --wait failed: ${cmd.stderr}`);
      const running = (await procs) - start;
      figures.add(`cluster: ${COUNT} running`, 'ms', running, { target: '≤ 1,000 ms', digits: 0 });
      figures.add(`cluster: scale --wait returns`, 'ms', cmd.ms, { digits: 0 });
      console.log(`run ${run} cluster: ${COUNT} running after ${running} ms; \`cluster scale worker=${COUNT} --wait\` returned after ${fmt(cmd.ms, 0)} ms`);
      await kit.scale('scaleup', { worker: 0 });
      await waitForProcesses(clusterArgv, 0, TIMEOUT_MS, POLL_MS);
      await waitPsEmpty(kit);
      // The same through the API (what the CLI's own start, ~0.3 s, adds to the above).
      await settle();
      const agentsCpu0 = agentsCpu(kit);
      const apiStart = Date.now();
      const apiProcs = waitForProcesses(clusterArgv, COUNT, TIMEOUT_MS, POLL_MS);
      await kit.scale('scaleup', { worker: COUNT });
      const apiRunning = (await apiProcs) - apiStart;
      figures.add(`cluster: the agents' CPU to start ${COUNT}`, 'ms', (agentsCpu(kit) - agentsCpu0) * 1000, { digits: 0 });
      const apiUp = (await kit.waitUp('scaleup', COUNT, TIMEOUT_MS)) - apiStart;
      figures.add(`cluster via the API: ${COUNT} running`, 'ms', apiRunning, { digits: 0 });
      figures.add(`cluster via the API: ${COUNT} up in ps`, 'ms', apiUp, { digits: 0 });
      console.log(`run ${run} cluster via the API (no CLI start): ${COUNT} running after ${apiRunning} ms, up in ps after ${apiUp} ms`);
      await kit.scale('scaleup', { worker: 0 });
      await waitForProcesses(clusterArgv, 0, TIMEOUT_MS, POLL_MS);
      await waitPsEmpty(kit);
    }
    if (pm2) {
      await settle();
      const start = Date.now();
      const procs = waitForProcesses(pm2Argv, COUNT, TIMEOUT_MS, POLL_MS);
      const cmd = await timedPm2(pm2, ['scale', 'worker', String(COUNT)]);
      const running = (await procs) - start;
      figures.add(`PM2: ${COUNT} running`, 'ms', running, { digits: 0 });
      figures.add('PM2: pm2 scale returns', 'ms', cmd.ms, { digits: 0 });
      console.log(`run ${run} PM2: ${COUNT} running after ${running} ms; \`pm2 scale worker ${COUNT}\` returned after ${fmt(cmd.ms, 0)} ms`);
      await pm2.run(['scale', 'worker', '1']);
      await waitForProcesses(pm2Argv, 1, TIMEOUT_MS, POLL_MS);
    }
    if (sup) {
      await settle();
      const start = Date.now();
      const procs = waitForProcesses(supArgv, COUNT, TIMEOUT_MS, POLL_MS);
      const cmd = await sup.ctl(['start', 'worker:*']);
      const running = (await procs) - start;
      figures.add(`supervisord: ${COUNT} running`, 'ms', running, { digits: 0 });
      figures.add('supervisord: supervisorctl start returns', 'ms', cmd.ms, { digits: 0 });
      console.log(`run ${run} supervisord: ${COUNT} running after ${running} ms; \`supervisorctl start worker:*\` returned after ${fmt(cmd.ms, 0)} ms`);
      await sup.ctl(['stop', 'worker:*']);
      await waitForProcesses(supArgv, 0, TIMEOUT_MS, POLL_MS);
    }
  }

  const c = figures.summary(`cluster: ${COUNT} running`).median;
  if (pm2) figures.add('PM2 ÷ cluster (running, medians)', '×', figures.summary(`PM2: ${COUNT} running`).median / c, { digits: 2 });
  if (sup) figures.add('supervisord ÷ cluster (running, medians)', '×', figures.summary(`supervisord: ${COUNT} running`).median / c, { digits: 2 });
  if (pidsRunning(clusterArgv).length + pidsRunning(pm2Argv).length + pidsRunning(supArgv).length > 1) console.error('warning: processes left over');
  figures.report({ runs: RUNS, count: COUNT, agents: AGENTS, pm2: pm2?.version(), supervisord: sup ? supervisordVersion() : undefined });
}

/**
 * Waits (at most 10 s) until the machine is quiet, under 15 % busy over half a second, before a
 * figure is taken: what the previous command left to do (PM2's daemon reaping 199 processes, the
 * agents clearing the instances they stopped) must not count in the next manager's figure.
 */
async function settle(): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await machineBusy(500)) > 0.15 && Date.now() < deadline);
}

/** CPU seconds the agents have used so far, all together. */
function agentsCpu(kit: TestCluster): number {
  return [...kit.agents.values()].reduce((sum, agent) => sum + (cpuSeconds(agent.pid) ?? 0), 0);
}

/** Waits until `ps` lists no instance at all (stopped instances' statuses are gone). */
async function waitPsEmpty(kit: TestCluster): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while ((await kit.instances('scaleup')).length > 0) {
    if (Date.now() > deadline) throw new Error('instances still listed after scaling to 0');
    await sleep(50);
  }
}

runMain(main);
