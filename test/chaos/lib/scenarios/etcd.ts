/**
 * Scenarios about etcd: the only member down for a while, one of three members down,
 * quorum lost and regained, paused while the leader replica dies. The control plane is given
 * every endpoint (`--etcd A,B,C`).
 */
import type { TestCluster } from '../../../helpers/test-cluster';
import { waitFor } from '../../../helpers/wait-for';
import { converge, deploySleeper, holds, liveServer, loggedAt, processesHold, rssMb, sampleRss, scale, settle } from '../observe';
import { snapshot, type Observation } from '../invariants';
import { AGENT_IDS, Checks, pollCli, sleep, threeAgents, ttlMs, withCluster, type ChaosOptions } from './common';

/** What the CLI must say while the control plane cannot reach etcd (issue 9, point 5). */
const ETCD_UNREACHABLE = /etcd is unreachable from the control plane/;
/** How soon after etcd's return everything works again. */
const RESUME_MS = 5_000;

async function settledApp(cluster: TestCluster, tag: string, count: number): Promise<{ app: string; settled: Observation }> {
  const app = await deploySleeper(cluster, tag);
  const { obs } = await settle(cluster, app, count, AGENT_IDS);
  return { app, settled: obs };
}

/**
 * While etcd cannot be reached: `ps` exits 2 saying so (soon, and nothing about circuit
 * breakers), every instance keeps running as it was. Records the control plane's memory.
 */
async function duringOutage(cluster: TestCluster, app: string, settled: Observation, o: ChaosOptions, checks: Checks, label: string): Promise<void> {
  const started = Date.now();
  const server = liveServer(cluster);
  const said = await pollCli(() => cluster.cli(['ps', '-a', app, '--json'], { server, timeoutMs: 15_000 }),
    // Up to 10 s to notice, however short the outage: the outage lasts until then.
    (r) => r.code === 2 && ETCD_UNREACHABLE.test(r.stderr), 10_000);
  checks.check(said.ok, `${label}: ps exited ${said.last.code} with ${JSON.stringify(said.last.stderr.trim().slice(0, 200))} (want exit 2, "etcd is unreachable from the control plane (…)")`);
  if (said.ok) o.figure(`${label}: ps says etcd is unreachable after`, 's', said.ms / 1000);
  const agents = await cluster.cli(['agents', '--json'], { server, timeoutMs: 15_000 });
  const agentsHonest = agents.code === 2 ? ETCD_UNREACHABLE.test(agents.stderr) : /stale|etcd|older than/i.test(agents.stdout + agents.stderr);
  checks.check(agentsHonest, `${label}: agents exited ${agents.code} and does not say its view is stale: ${JSON.stringify((agents.stderr || agents.stdout).trim().slice(0, 200))}`);
  await checks.step(`${label}: instances while etcd is away`, () => processesHold(app, settled, Math.max(0, o.outageMs - (Date.now() - started))));
}

/** After etcd's return: everything answers and holds within RESUME_MS, and a scale-up works. */
async function afterOutage(cluster: TestCluster, app: string, settled: Observation, o: ChaosOptions, checks: Checks, label: string): Promise<void> {
  const backAt = Date.now();
  const formation = { worker: o.count };
  const unchanged = snapshot(settled.ps);
  const resumed = await checks.step(`${label}: resuming`, () => converge(cluster, app, { formation, agents: AGENT_IDS, unchanged }, { since: backAt, timeoutMs: 20_000 }));
  if (!resumed) return;
  o.figure(`${label}: all reported up after etcd's return`, 's', resumed.ms / 1000);
  checks.check(resumed.ms <= RESUME_MS, `${label}: took ${(resumed.ms / 1000).toFixed(1)} s after etcd's return to answer (limit ${RESUME_MS / 1000} s)`);
  await checks.step(`${label}: a scale-up after the outage`, async () => {
    await scale(cluster, app, { worker: o.count + 3 });
    await converge(cluster, app, { formation: { worker: o.count + 3 }, agents: AGENT_IDS, unchanged }, { timeoutMs: 20_000 });
    await scale(cluster, app, formation);
    await converge(cluster, app, { formation, agents: AGENT_IDS, unchanged }, { timeoutMs: 20_000 });
  });
}

/**
 * The only etcd member down for `outageMs`: the rules above, memory bounded during the
 * outage, and at the end SIGTERM ends the control plane within 5 s while etcd is down.
 */
export async function etcdDown(o: ChaosOptions): Promise<void> {
  await withCluster({ agents: threeAgents() }, async (cluster) => {
    const checks = new Checks();
    const { app, settled } = await settledApp(cluster, 'etcd-down', o.count);
    const plane = cluster.replicas[0]!.daemon;
    const rssBefore = rssMb(plane.pid);
    const sampler = sampleRss(plane.pid);
    await cluster.etcd.member(0).stop('SIGKILL');
    await duringOutage(cluster, app, settled, o, checks, `etcd down ${o.outageMs / 1000} s`);
    const rssMax = sampler.stop();
    await cluster.etcd.member(0).start();
    await cluster.etcd.waitForQuorum();
    await afterOutage(cluster, app, settled, o, checks, `etcd down ${o.outageMs / 1000} s`);
    const rssAfter = rssMb(plane.pid);
    o.figure('control plane RSS before the etcd outage', 'MB', rssBefore);
    o.figure(`control plane RSS, most during ${o.outageMs / 1000} s without etcd`, 'MB', rssMax);
    o.figure('control plane RSS after the outage', 'MB', rssAfter);
    o.log(`control plane RSS: ${rssBefore.toFixed(0)} MB before, ${rssMax.toFixed(0)} MB at most during the outage, ${rssAfter.toFixed(0)} MB after`);
    // Bounded whatever the outage's length: far below the 10× growth issue 9 measured.
    const bound = Math.max(rssBefore * 1.5, rssBefore + 64);
    checks.check(rssMax <= bound, `control plane grew from ${rssBefore.toFixed(0)} MB to ${rssMax.toFixed(0)} MB without etcd (bound ${bound.toFixed(0)} MB)`);

    await cluster.etcd.member(0).stop('SIGKILL');
    await processesHold(app, settled, Math.min(2_000, o.outageMs));
    const asked = Date.now();
    plane.child.kill('SIGTERM');
    const ended = await Promise.race([plane.exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000))]);
    const took = Date.now() - asked;
    checks.check(ended && took <= 5_000, `SIGTERM ended the control plane ${ended ? `after ${(took / 1000).toFixed(1)} s` : 'not within 10 s'} while etcd was down (limit 5 s)`);
    checks.done();
  });
}

/**
 * One of three members down, `rounds` times, the leader each time (its loss makes the other two
 * elect a new one: the longest etcd is silent when one member goes): nothing changes for the
 * instances, a scale works at once, and `ps` waits the election out instead of answering from a
 * stale view (it may still be stale if a loaded etcd is silent for seconds: counted, and then
 * the process table must hold).
 */
export async function oneEtcdMemberDown(o: ChaosOptions): Promise<void> {
  await withCluster({ agents: threeAgents(), etcdMembers: 3 }, async (cluster) => {
    const { app, settled } = await settledApp(cluster, 'member', o.count);
    let last = settled;
    for (let round = 0; round < o.rounds; round++) {
      const member = await cluster.etcd.leader();
      const which = `round ${round + 1} (leader ${member.spec.name} down)`;
      await member.stop('SIGKILL');
      const downAt = Date.now();
      const formation = { worker: o.count + (round % 2 === 0 ? 3 : 0) };
      const unchanged = snapshot(last.ps);
      await scale(cluster, app, formation).catch((err: Error) => { throw new Error(`${which}: ${err.message}`); });
      const done = await converge(cluster, app, { formation, agents: AGENT_IDS, unchanged }, { since: downAt, timeoutMs: 20_000 })
        .catch((err: Error) => { throw new Error(`${which}: ${err.message}`); });
      o.figure('one of three etcd members down: a scale converged after the kill', 's', done.ms / 1000);
      const stale = await holds(cluster, app, { formation, agents: AGENT_IDS, unchanged: snapshot(done.obs.ps) }, 2 * ttlMs(cluster), { staleFrom: done.obs })
        .catch((err: Error) => { throw new Error(`${which}: ${err.message}`); });
      if (stale > 0) o.log(`${which}: ps answered from a stale view ${stale} times after converging (etcd silent for seconds)`);
      await member.start();
      await cluster.etcd.waitForQuorum();
      last = done.obs;
    }
    await scale(cluster, app, { worker: o.count });
    await converge(cluster, app, { formation: { worker: o.count }, agents: AGENT_IDS });
  });
}

/** Two of three members down for `outageMs`, then back: as an etcd outage, then resumes. */
export async function quorumLostAndRegained(o: ChaosOptions): Promise<void> {
  await withCluster({ agents: threeAgents(), etcdMembers: 3 }, async (cluster) => {
    const checks = new Checks();
    const { app, settled } = await settledApp(cluster, 'quorum', o.count);
    const lost = [cluster.etcd.member(1), cluster.etcd.member(2)];
    await Promise.all(lost.map((m) => m.stop('SIGKILL')));
    await duringOutage(cluster, app, settled, o, checks, 'quorum lost');
    await Promise.all(lost.map((m) => m.start()));
    await cluster.etcd.waitForQuorum();
    await afterOutage(cluster, app, settled, o, checks, 'quorum lost then regained');
    checks.done();
  });
}

/** What a replica logs when its probe finds etcd silent (control-plane/etcd/health.ts). */
const ETCD_SILENT = 'etcd does not answer: the views of this replica are getting old';

/**
 * etcd paused (SIGSTOP) for `outageMs` (longer than the agents' lease TTL: they register again),
 * and the leader replica killed as it resumes, `rounds` times, three replicas: every instance
 * keeps its process and host, and a survivor leads and converges. Then, for 10 s, how often a
 * survivor's probe finds etcd silent again after it had answered: a figure, not a criterion.
 * Before etcd/stream-failures.ts, one did in 5 of 31 rounds, 4–7 s after the resume, for ~1 s:
 * one dropped connection had opened its circuit breaker (docs/chaos.md). The killed replica
 * then starts again.
 */
export async function etcdPausedLeaderKilled(o: ChaosOptions): Promise<void> {
  await withCluster({ agents: threeAgents(), replicas: 3 }, async (cluster) => {
    const checks = new Checks();
    const { app, settled } = await settledApp(cluster, 'paused', o.count);
    let last = settled;
    for (let round = 0; round < o.rounds; round++) {
      const which = `round ${round + 1}`;
      const leader = await waitFor(`${which}: a live replica to hold the leader key`, () => cluster.leader(), 20_000, 100);
      const survivors = cluster.replicas.filter((r) => r !== leader);
      const member = cluster.etcd.member(0);
      await member.kill('SIGSTOP');
      await processesHold(app, last, o.outageMs);
      await member.kill('SIGCONT');
      const resumedAt = Date.now();
      await leader.daemon.kill('SIGKILL');
      const formation = { worker: o.count };
      const done = await checks.step(`${which}: converging after etcd's pause and the leader's kill`, () =>
        converge(cluster, app, { formation, agents: AGENT_IDS, unchanged: snapshot(last.ps) }, { since: resumedAt, timeoutMs: 30_000 }));
      if (!done) break;
      o.figure('etcd paused, leader killed: converged after etcd resumed', 's', done.ms / 1000);
      // The survivors' own probes speak for them: a flap would say "does not answer" again.
      await sleep(Math.max(0, resumedAt + RESUME_MS + 10_000 - Date.now()));
      const relapses = survivors.flatMap((r) => loggedAt(r.daemon.log, ETCD_SILENT, resumedAt + RESUME_MS).map((at) => `${r.address} +${((at - resumedAt) / 1000).toFixed(1)} s`));
      o.figure('etcd paused, leader killed: survivors finding etcd silent again after it answered', 'times', relapses.length);
      if (relapses.length) o.log(`${which}: a survivor found etcd silent again after it resumed: ${relapses.join(', ')}`);
      await checks.step(`${which}: instances hold`, () => processesHold(app, done.obs, 0));
      await cluster.startControlPlane(leader.address);
      last = done.obs;
    }
    checks.done();
  });
}
