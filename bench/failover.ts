/**
 * bench/failover: `kill -9` an agent holding 100 instances; time until all 100 are up on the
 * other agents. Default settings (agent lease TTL 4 s, heartbeat 1 s).
 *
 * Each run: a fresh holder agent joins alone and gets worker=100 (all on it), then two fresh
 * standby agents join (a joining agent gets only new work, so nothing moves), then the holder
 * is SIGKILLed. Figures, from the kill: the holder declared gone (its registration vanished:
 * its lease expired), the first instance placed elsewhere, and all 100 up elsewhere (polled
 * through the API every 20 ms). Then everything is scaled to 0 and the standbys stop.
 *
 *   node dist/bench/failover.js [--runs 3] [--count 100] [--agent-ttl 4] [--wait-idle S] [--json FILE] [--keep]
 */
import * as path from 'node:path';
import { callUnary } from '../lib/grpc-call';
import { startBenchCluster } from './lib/bench-cluster';
import { pidsRunning } from './lib/peers';
import { banner, Figures, numberOption, runMain, sleep, tempDir } from './lib/runs';

const RUNS = numberOption('runs', 3);
const COUNT = numberOption('count', 100);
const TTL = numberOption('agent-ttl', 0); // 0: the control plane's default

async function main(): Promise<void> {
  await banner('failover: kill -9 an agent holding 100 instances', [`${RUNS} runs; agent TTL ${TTL || 'default (4 s)'}`]);
  const figures = new Figures('failover');
  const dir = tempDir('cluster-bench-failover-');
  const kit = await startBenchCluster(path.join(dir, 'cluster'), { agentTtl: TTL || undefined });
  const argv = ['sleep', '100004'];
  await kit.deployProcfile('failover', 'worker: sleep 100004\n');

  for (let run = 1; run <= RUNS; run++) {
    const holder = `holder-${run}`;
    const holderProc = await kit.startReadyAgent({ id: holder, capacity: 1000 });
    await kit.scale('failover', { worker: COUNT });
    await kit.waitUp('failover', COUNT, 60_000);
    if ((await kit.instances('failover')).some((i) => i.host !== holder)) throw new Error('instances landed off the holder');
    const standbys = [`standby-${run}a`, `standby-${run}b`];
    for (const id of standbys) await kit.startReadyAgent({ id, capacity: 1000 });
    await sleep(1_500); // past the scheduler's settle time after joins: nothing should move
    if ((await kit.instances('failover')).some((i) => i.host !== holder)) throw new Error('instances moved when the standbys joined');

    const killedAt = Date.now();
    holderProc.child.kill('SIGKILL');
    let gone = 0;
    let firstPlaced = 0;
    let allUp = 0;
    while (!allUp) {
      if (Date.now() - killedAt > 60_000) throw new Error('instances not back within 60 s');
      const [ps, agents] = await Promise.all([kit.instances('failover'), callUnary(kit.api, 'ListAgents', {})]);
      const now = Date.now();
      const elsewhere = ps.filter((i) => i.host && i.host !== holder);
      if (!gone && !agents.agents.some((a) => a.id === holder && a.state !== 'down')) gone = now;
      if (!firstPlaced && elsewhere.length > 0) firstPlaced = now;
      if (elsewhere.filter((i) => i.state === 'up').length >= COUNT) allUp = now;
      else await sleep(20);
    }
    const orphans = pidsRunning(argv).length - COUNT;
    figures.add('holder declared gone (lease expired)', 's', ((gone || allUp) - killedAt) / 1000, { digits: 2 });
    figures.add('first instance placed elsewhere', 's', (firstPlaced - killedAt) / 1000, { digits: 2 });
    figures.add(`all ${COUNT} up elsewhere`, 's', (allUp - killedAt) / 1000, { target: '≤ 5 s', digits: 2 });
    console.log(`run ${run}: holder gone after ${((gone || allUp) - killedAt) / 1000} s, first placed after ${(firstPlaced - killedAt) / 1000} s, all ${COUNT} up elsewhere after ${(allUp - killedAt) / 1000} s${orphans > 0 ? `; ${orphans} of the holder's processes still running` : ''}`);

    await kit.scale('failover', { worker: 0 });
    const deadline = Date.now() + 60_000;
    while ((await kit.instances('failover')).length > 0 || pidsRunning(argv).length > 0) {
      if (Date.now() > deadline) throw new Error('instances left after scaling to 0');
      await sleep(100);
    }
    for (const id of standbys) await kit.agents.get(id)!.stop('SIGUSR2');
    await sleep(500);
  }
  figures.report({ runs: RUNS, count: COUNT, agentTtl: TTL || 4 });
}

runMain(main);
