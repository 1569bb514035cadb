/**
 * Release commands across a leader failover and against newer releases
 * (docs/boot-checks.md#release-phase): a new leader settles every release a killed one left
 * `running`, not only the newest; and a claimed release whose command had not started when a
 * newer release was made never runs it, also when its leader was killed meanwhile.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { TestCluster } from '../helpers/test-cluster';
import { RELEASE_SH, type ReleaseRow, startRecorded, storedPhase, WEB } from '../helpers/release-apps';
import { waitFor } from '../helpers/wait-for';

describe('release commands and leader failover', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let etcd: Etcd3;
  let gates: string;
  const deploy = (name: string, procfile: string, extra: string[] = []) => {
    const dir = cluster.appDir(`api-${name}`, { Procfile: procfile, 'release.sh': RELEASE_SH });
    return cluster.cli(['deploy', dir, '-a', 'api', ...extra], { timeoutMs: 90_000 });
  };
  const withRelease = (release: string) => `web: ${WEB}\nrelease: ${release}\n`;
  const releases = async () => (await cluster.cliJson<{ releases: ReleaseRow[] }>(['releases', '-a', 'api'])).releases;
  const release = async (version: number) => (await releases()).find((r) => r.version === version)!;
  const running = async () => (await releases()).find((r) => r.deployed)?.version;
  /** Deploys a release whose command waits for `gate`, then exits with `status`; waits until its phase is `running`. */
  const deployGated = async (name: string, gate: string, status: number, then = '') => {
    const res = await deploy(name, withRelease(`sh release.sh ${gate} ${status}${then}`));
    assert.equal(res.code, 0, res.stderr);
    const version = (await releases())[0]!.version;
    await waitFor(`v${version} claimed`, async () => (await storedPhase(etcd, 'api', version))?.state === 'running' || undefined, 30_000);
    return version;
  };
  const startedIn = (version: number) => startRecorded(etcd, 'api', version);
  const settled = (version: number) =>
    waitFor(`v${version} settled`, async () => {
      const r = await release(version);
      return r.phase !== 'running' ? r : undefined;
    }, 40_000);
  const killLeader = async () => {
    const leader = await waitFor('a leader', () => cluster.leader(), 15_000);
    await leader.daemon.kill('SIGKILL');
    await waitFor('another leader', async () => {
      const next = await cluster.leader();
      return next && next.address !== leader.address ? next : undefined;
    }, 20_000);
    // Back as a follower, for the next failover.
    await cluster.startControlPlane(leader.address);
  };

  before(async () => {
    // An agent TTL long enough for an agent to stay registered while it is frozen for a while.
    cluster = await TestCluster.start({ replicas: 2, agents: [{ id: 'host-a' }], agentTtl: 15 });
    etcd = new Etcd3({ hosts: cluster.etcd.urls });
    gates = path.join(cluster.dir, 'gates');
    fs.mkdirSync(gates);
    await cluster.ok(['apps:create', 'api']);
    const res = await deploy('v1', withRelease('sh release.sh'), ['--wait']);
    assert.equal(res.code, 0, res.stderr);
  });

  after(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('settles every release a killed leader left running: an older one that passes is superseded, one that fails failed, the newest stays live', async () => {
    const passes = await deployGated('older-passes', path.join(gates, 'passes'), 0);
    await startedIn(passes);
    const fails = await deployGated('older-fails', path.join(gates, 'fails'), 3);
    await startedIn(fails);
    const newest = await deploy('newest', withRelease('sh release.sh'), ['--wait']);
    assert.equal(newest.code, 0, newest.stderr);
    const live = fails + 1;
    assert.equal(await running(), live);

    await killLeader();
    fs.writeFileSync(path.join(gates, 'passes'), '');
    fs.writeFileSync(path.join(gates, 'fails'), '');
    const [older, failed] = await Promise.all([settled(passes), settled(fails)]);
    assert.deepEqual([older.phase, older.phaseReason], ['superseded', `its command passed, but v${live} was made meanwhile and supersedes it; nothing rolled`]);
    assert.deepEqual([failed.phase, failed.phaseReason], ['failed', 'exited with status 3']);
    assert.equal(await running(), live, `v${live} stays live`);
  });

  it('stops a command whose start raced a newer release, and marks its release superseded', async () => {
    const agent = cluster.agents.get('host-a')!;
    const done = path.join(cluster.dir, 'raced-done');
    const gate = path.join(gates, 'raced');
    // Frozen, the agent takes the start only once the newer release is made.
    process.kill(agent.pid, 'SIGSTOP');
    let version: number;
    try {
      version = await deployGated('raced', gate, 0, ` && echo done > ${done}`);
      const newer = await deploy('after-raced', `web: ${WEB}\n`);
      assert.equal(newer.code, 0, newer.stderr);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
    const r = await settled(version);
    assert.deepEqual([r.phase, r.phaseReason], ['superseded', `v${version + 1} was made before its command was known to have started; it was stopped and nothing rolled`]);
    await waitFor(`release.${version} gone from ps`, async () => !(await cluster.ps('api')).some((i) => i.name === `release.${version}`) || undefined, 20_000);
    assert.equal(fs.existsSync(done), false, 'the command was stopped at its gate, never opened');
    assert.equal(await running(), version + 1);
  });

  it('never runs the command a killed leader had claimed but not started, once a newer release is made', async () => {
    const agent = cluster.agents.get('host-a')!;
    const done = path.join(cluster.dir, 'unstarted-done');
    // Frozen, the agent gets the killed leader's start (if at all) only after the newer release.
    process.kill(agent.pid, 'SIGSTOP');
    let version: number;
    try {
      version = await deployGated('unstarted', path.join(gates, 'unstarted'), 0, ` && echo done > ${done}`);
      await killLeader();
      const newer = await deploy('after-unstarted', `web: ${WEB}\n`);
      assert.equal(newer.code, 0, newer.stderr);
    } finally {
      process.kill(agent.pid, 'SIGCONT');
    }
    const r = await settled(version);
    assert.equal(r.phase, 'superseded');
    // Whether the start reached the agent before the new leader's stop is the agent's scheduling.
    assert.match(r.phaseReason ?? '', new RegExp(`^v${version + 1} was made before its command was known to have started(, and its agent was not running it; nothing rolled|; it was stopped and nothing rolled)$`));
    await waitFor(`release.${version} gone from ps`, async () => !(await cluster.ps('api')).some((i) => i.name === `release.${version}`) || undefined, 20_000);
    assert.equal(fs.existsSync(done), false, 'the command was stopped at its gate, never opened');
    assert.equal(await running(), version + 1);
  });

  it('says only what it knows of a command whose start a killed leader did not record: it may have run', async () => {
    const ran = path.join(cluster.dir, 'unrecorded-ran');
    const res = await deploy('unrecorded', withRelease(`echo ran > ${ran}; exit 3`));
    assert.equal(res.code, 0, res.stderr);
    const version = (await releases())[0]!.version;
    assert.equal((await settled(version)).phase, 'failed');
    const newer = await deploy('after-unrecorded', `web: ${WEB}\n`);
    assert.equal(newer.code, 0, newer.stderr);
    // What a leader killed between the agent's `started` and its mark leaves: claimed, not marked,
    // while the agent ran the command (and remembers its exit). The live leader settled it already:
    // only the next one reads it.
    const key = `/cluster/releases/api/${String(version).padStart(10, '0')}`;
    const record = JSON.parse((await etcd.get(key).string())!) as { phase: Record<string, unknown> };
    const claim: Record<string, unknown> = { ...record.phase, state: 'running' };
    for (const field of ['started', 'finishedAtMs', 'status', 'reason']) delete claim[field];
    await etcd.put(key).value(JSON.stringify({ ...record, phase: claim }));
    await killLeader();
    const r = await settled(version);
    assert.equal(fs.existsSync(ran), true, 'the command ran');
    assert.deepEqual([r.phase, r.phaseReason], ['superseded', `v${version + 1} was made before its command was known to have started, and its agent was not running it; nothing rolled`]);
  });
});
