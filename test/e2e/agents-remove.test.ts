/**
 * A server that dies stays in `cluster agents`: unreachable while it still owns instances, then
 * down, with the address and datacenter it last registered, until `cluster agents:remove`
 * forgets it. Removal refuses while the agent runs or owns instances (one stopped for a restart
 * is told apart: it has stopped, its instances wait for its restart hold); a removed agent that
 * starts again registers anew.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { instanceProcesses } from '../helpers/processes';
import { waitFor } from '../helpers/wait-for';

// Process-table checks see the whole machine: a name no other test uses.
const APP = `gone-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;

interface AgentJson {
  id: string;
  address: string;
  datacenter: string;
  state: string;
  instances: number;
  heartbeatAgeMs: number | null;
}

describe('agents that are gone, and agents:remove', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const agents = async () => (await cluster.cliJson<{ agents: AgentJson[] }>(['agents'])).agents;
  const agent = async (id: string) => (await agents()).find((a) => a.id === id);

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'rm-a', datacenter: 'fra1' }, { id: 'rm-b' }] });
    await cluster.deployProcfile(APP, 'worker: sleep 100000\n');
    await cluster.ok(['scale', 'worker=4', '-a', APP, '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('refuses to remove an agent that runs, naming why', async () => {
    const res = await cluster.cli(['agents:remove', 'rm-a']);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /agent `rm-a` is registered: stop the agent on its server first/);
    assert.equal((await agent('rm-a'))?.state, 'ready');
    const unknown = await cluster.cli(['agents:remove', 'nosuch']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /agent `nosuch` is not known \(see `cluster agents`\)/);
    const bad = await cluster.cli(['agents:remove', 'Bad Name!']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /agent/i);
  });

  it('lists a killed agent as unreachable, then down with what it registered, and forgets it on agents:remove', async () => {
    const registered = (await agent('rm-a'))!;
    assert.ok(registered.address && registered.instances > 0, JSON.stringify(registered));
    await cluster.agents.get('rm-a')!.kill('SIGKILL');

    // Its instances move at once (the leader has led for longer than the failover grace), so
    // `unreachable` is brief here (test/e2e/failover-grace.test.ts holds it there); then down.
    const down = await waitFor('rm-a down, its instances moved', async () => {
      const a = await agent('rm-a');
      return a?.state === 'down' ? a : undefined;
    }, 30_000, 200);
    assert.deepEqual([down.address, down.datacenter, down.instances], [registered.address, 'fra1', 0]);
    assert.ok(down.heartbeatAgeMs !== null && down.heartbeatAgeMs >= 0, 'when it was last heard');
    const table = await cluster.ok(['agents']);
    assert.match(table.stdout, /^rm-a +\S+ +fra1 +- +down +0 /m);
    // The note is on stderr: stdout is the table alone, a header and a row per agent (`| awk` works).
    assert.equal(table.stderr, 'rm-a is down: once a server is gone for good, forget it with `cluster agents:remove ID`.\n');
    assert.deepEqual(table.stdout.trimEnd().split('\n').map((line) => line.split(/ +/)[0]), ['ID', 'rm-a', 'rm-b']);
    // Every worker runs on rm-b now, once each: in ps and in the process table.
    await cluster.waitForPs(APP, 'four workers up on rm-b', (l) => l.length === 4 && l.every((i) => i.state === 'up' && i.host === 'rm-b'));
    await waitFor('one process per worker', () => {
      const processes = instanceProcesses(APP);
      return processes.size === 4 && [...processes.values()].every((pids) => pids.length === 1);
    }, 15_000, 100);

    // activate of a down agent never drained: nothing to undo, said so (exit 0), as for a ready one.
    const activated = await cluster.ok(['agents:activate', 'rm-a']);
    assert.equal(activated.stdout.trim(), 'rm-a was not drained: nothing changed (it is down).');

    // Its lines are on a server that is gone: `cluster logs` says it cannot reach them, until removal.
    const unreachableLines = await cluster.ok(['logs', '-a', APP, '-n', '5']);
    assert.match(unreachableLines.stderr, /host rm-a keeps lines of `[^`]+` but is not registered now/);
    const removed = await cluster.ok(['agents:remove', 'rm-a']);
    assert.equal(removed.stdout.trim(), `Removed rm-a (${registered.address}, fra1): it is no longer listed. If its agent starts again, it registers anew.`);
    assert.deepEqual((await agents()).map((a) => `${a.id}:${a.state}`), ['rm-b:ready']);
    const logs = await cluster.ok(['logs', '-a', APP, '-n', '5']);
    assert.doesNotMatch(logs.stderr, /rm-a/, 'a removed host is no longer named by cluster logs');
    const again = await cluster.cli(['agents:remove', 'rm-a']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /agent `rm-a` is not known/);
  });

  it('a removed agent that starts again registers anew and takes work', async () => {
    cluster.restartAgent('rm-a');
    await cluster.waitForAgent('rm-a');
    assert.deepEqual((await agents()).map((a) => `${a.id}:${a.state}`), ['rm-a:ready', 'rm-b:ready']);
    await cluster.ok(['scale', 'worker=12', '-a', APP, '--wait']);
    const list = await cluster.ps(APP);
    assert.ok(list.some((i) => i.host === 'rm-a'), 'new workers land on rm-a');
  });

  it('says that an agent stopped for a restart has stopped, and that its instances wait for its restart hold', async (t) => {
    const owned = (await agent('rm-b'))!.instances;
    assert.ok(owned > 0, 'rm-b runs workers');
    await cluster.agents.get('rm-b')!.stop('SIGTERM');
    try {
      // Its leaving heartbeat asks for the hold; one whose answer is lost (a machine too loaded to
      // answer within 1 s) leaves it the lease alone, and nothing to tell apart.
      const state = await waitFor('rm-b restarting, or registered no more', async () => {
        const s = (await agent('rm-b'))?.state;
        return s !== 'ready' ? s ?? 'gone' : undefined;
      }, 10_000);
      if (state !== 'restarting') return t.skip(`no restart hold was granted: rm-b is ${state}`);
      const res = await cluster.cli(['agents:remove', 'rm-b']);
      assert.equal(res.code, 1, res.stdout);
      assert.match(res.stderr, new RegExp(`agent \`rm-b\` has stopped and still owns ${owned} instance\\(s\\): they stay for its restart hold \\(15 s from its stop\\) in case it starts again, then move to other agents; remove it after that`));
      assert.deepEqual((await agents()).map((a) => a.id), ['rm-a', 'rm-b'], 'still listed');
    } finally {
      // Not left to the watchdog's window after the test: stopped now.
      await cluster.cli(['agent', 'stop', '--stop-instances', '--data-dir', cluster.agentDir('rm-b')]);
    }
  });
});
