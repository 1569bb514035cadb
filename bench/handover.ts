/**
 * bench/handover: what the agent hand-over costs and how long it takes (docs/agent-handover.md).
 *
 * One agent runs N instances of `sleep` (default 200). Measured:
 * - processes per instance on the host (the instance itself; a holder would add one), and the
 *   agent-wide extras (the watchdog);
 * - agent RSS with N instances, and the open file descriptors per instance;
 * - per run, for a planned hand-over (SIGTERM, then a new start) and a crash (kill -9, then a new
 *   start): the gap (old agent gone → new agent has taken the instances over and answers), and
 *   that all N pids are the same afterwards.
 * Spawn latency is bench/restart's job (`npm run bench -- restart`).
 *
 *   node dist/bench/handover.js [--instances 200] [--runs 3] [--json FILE]
 */
import * as fs from 'node:fs';
import { startBenchCluster, waitFor } from './lib/bench-cluster';
import { banner, Figures, numberOption, rssMb, runMain, sleep, tempDir } from './lib/runs';
import { procEnviron } from '../agent/supervisor/proc-stat';

const INSTANCES = numberOption('instances', 200);
const RUNS = numberOption('runs', 3);
const AGENT = 'ho-1';

/** Live processes whose environment says they run for `agentId`. */
function instanceProcesses(agentId: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (procEnviron(Number(entry)).get('CLUSTER_HOST') === agentId) pids.push(Number(entry));
  }
  return pids;
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function pidsByName(ps: Array<{ name: string; pid: number }>): string {
  return ps.map((i) => `${i.name}=${i.pid}`).sort().join(' ');
}

runMain(async () => {
  await banner('agent hand-over', [`${INSTANCES} instances of sleep on one agent, ${RUNS} runs of each kind of restart`]);
  const dir = tempDir('bench-handover-');
  const kit = await startBenchCluster(dir);
  const figures = new Figures('handover');
  let agent = await kit.startReadyAgent({ id: AGENT, capacity: INSTANCES + 10 });
  await kit.deployProcfile('ho', 'worker: sleep 100000\n');
  await kit.scale('ho', { worker: INSTANCES });
  await kit.waitUp('ho', INSTANCES, 120_000);
  await sleep(2_000);

  const procs = instanceProcesses(AGENT);
  figures.add('processes per instance', 'processes', procs.length / INSTANCES, { target: '1 (no holder process)', digits: 2 });
  const agentChildren = childrenOf(agent.pid).filter((pid) => !procs.includes(pid));
  figures.add('agent-wide helper processes (the watchdog)', 'processes', agentChildren.length, { digits: 0 });
  figures.add(`agent RSS with ${INSTANCES}`, 'MB', rssMb(agent.pid) ?? NaN);
  const fds = fs.readdirSync(`/proc/${agent.pid}/fd`).length;
  figures.add('agent file descriptors per instance', 'fds', fds / INSTANCES, { digits: 2 });

  for (const [kind, signal] of [['SIGTERM + start', 'SIGTERM'], ['kill -9 + start', 'SIGKILL']] as const) {
    for (let r = 0; r < RUNS; r++) {
      const before = pidsByName(await kit.instances('ho'));
      const old = agent;
      old.child.kill(signal);
      await old.exited;
      const gone = Date.now();
      agent = kit.startAgent({ id: AGENT, capacity: INSTANCES + 10 });
      const log = agent.log;
      const takeOvers = () => fs.readFileSync(log, 'utf8').split('"agent started"').length;
      const earlier = takeOvers();
      await waitFor('the new agent to start', () => takeOvers() > earlier, 60_000, 5);
      const started = Date.now();
      figures.add(`${kind}: gap until the new agent runs`, 'ms', started - gone, { target: '< hand-over window (2.5 s; 3.5 s after SIGTERM)', digits: 0 });
      await kit.waitForAgent(AGENT);
      const after = pidsByName(await kit.instances('ho'));
      figures.add(`${kind}: instances kept`, '%', before === after ? 100 : 0, { target: '100', digits: 0 });
      await sleep(1_000);
    }
  }
  figures.report({ instances: INSTANCES });
  await kit.scale('ho', { worker: 0 });
  await kit.stop();
});
