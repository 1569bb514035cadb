/**
 * Process servers (docs/process-servers.md), end to end: an agent started with --process-server
 * runs workers but no web until `agents:web ID on`; the toggle outlives the agent's restart (the
 * flag does not turn it off again); turning it off moves web away without fewer up at any time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Etcd3 } from 'etcd3';
import { callUnary } from '../../lib/grpc-call';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { sleep, waitFor } from '../helpers/wait-for';
import { listening } from '../helpers/processes';

interface AgentJson {
  id: string;
  state: string;
  web: boolean;
}

const ofType = (list: PsInstance[], type: string) => list.filter((i) => i.type === type);
const hostsOf = (list: PsInstance[], type: string) => new Set(ofType(list, type).map((i) => i.host));
const allUp = (list: PsInstance[], type: string, n: number) => ofType(list, type).length === n && ofType(list, type).every((i) => i.state === 'up');

describe('process servers', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  const agents = async () => (await cluster.cliJson<{ agents: AgentJson[] }>(['agents'])).agents;
  const webOf = async (id: string) => (await agents()).find((a) => a.id === id)?.web;
  /** Each agent's web toggle in etcd and the revision it was last written at. */
  const toggleRevisions = async () => {
    const client = new Etcd3({ hosts: cluster.etcd.urls });
    try {
      const { kvs } = await client.getAll().prefix('/cluster/web/').exec();
      return new Map(kvs.map((kv) => [kv.key.toString().slice('/cluster/web/'.length), kv.mod_revision]));
    } finally {
      client.close();
    }
  };

  before(async () => {
    cluster = await TestCluster.start({
      // disk=ssd: a placement rule only proc-1 fits.
      agents: [{ id: 'web-1' }, { id: 'proc-1', args: ['--process-server', '--label', 'disk=ssd'] }],
      // An 8 s lease: a hand-over window of 6.5 s (docs/agent-handover.md) for the restart test,
      // time enough for an agent to start next to other test files (2 s would leave 0.5 s).
      agentTtl: 8,
    });
    // A web is up once it accepts connections on $PORT (docs/boot-checks.md).
    const dir = cluster.appDir('shop', { Procfile: `web: ${listening('sleep 100000')}\nworker: sleep 100000\n` });
    await cluster.deployApp('shop', dir);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('lists a process server with web off, and others with web on', async () => {
    assert.deepEqual((await agents()).map((a) => `${a.id} ${a.web}`), ['proc-1 false', 'web-1 true']);
    const table = await cluster.ok(['agents']);
    assert.match(table.stdout, /WEB/);
    assert.match(table.stdout, /proc-1\s.*\soff\n/);
    assert.match(table.stdout, /web-1\s.*\son\n/);
  });

  it('runs workers but no web on a process server until it is toggled on', async () => {
    await cluster.ok(['scale', 'web=4', 'worker=4', '-a', 'shop', '--wait']);
    const list = await cluster.ps('shop');
    assert.deepEqual(hostsOf(list, 'web'), new Set(['web-1']), 'web only on web-1');
    assert.deepEqual(hostsOf(list, 'worker'), new Set(['web-1', 'proc-1']), 'workers on both');
    const on = await cluster.ok(['agents:web', 'proc-1', 'on']);
    assert.match(on.stdout, /proc-1 runs web now/);
    assert.equal(await webOf('proc-1'), true);
    await cluster.ok(['scale', 'web=8', '-a', 'shop']);
    await cluster.waitForPs('shop', 'new web instances on proc-1 too', (l) => allUp(l, 'web', 8) && hostsOf(l, 'web').has('proc-1'));
  });

  it('keeps the toggle when the agent restarts with --process-server', async () => {
    const before = ofType(await cluster.ps('shop'), 'web').filter((i) => i.host === 'proc-1').map((i) => `${i.name}:${i.pid}`).sort();
    const old = cluster.agents.get('proc-1')!;
    await old.kill('SIGTERM'); // hands its instances over to the next run
    const from = fs.statSync(old.log).size;
    const daemon = cluster.restartAgent('proc-1');
    await waitFor('the new proc-1 registered', () => fs.readFileSync(daemon.log).subarray(from).includes('registered with the control plane'), 20_000, 100);
    await waitFor('proc-1 listed ready', async () => (await agents()).find((a) => a.id === 'proc-1')?.state === 'ready', 20_000, 100);
    assert.equal(await webOf('proc-1'), true, 'the toggle wins over the flag');
    const list = await cluster.waitForPs('shop', 'everything up after the restart', (l) => allUp(l, 'web', 8) && allUp(l, 'worker', 4));
    const now = ofType(list, 'web').filter((i) => i.host === 'proc-1').map((i) => `${i.name}:${i.pid}`).sort();
    assert.deepEqual(now, before, 'web stays on proc-1, same processes');
  });

  it('keeps web on an agent that registered before without --process-server and restarts with it', async () => {
    const before = ofType(await cluster.ps('shop'), 'web').filter((i) => i.host === 'web-1').map((i) => `${i.name}:${i.pid}`).sort();
    assert.ok(before.length > 0);
    const old = cluster.agents.get('web-1')!;
    await old.kill('SIGTERM');
    const from = fs.statSync(old.log).size;
    const daemon = cluster.startAgent({ id: 'web-1', args: ['--process-server'] });
    await waitFor('the new web-1 registered', () => fs.readFileSync(daemon.log).subarray(from).includes('registered with the control plane'), 20_000, 100);
    await waitFor('web-1 listed ready', async () => (await agents()).find((a) => a.id === 'web-1')?.state === 'ready', 20_000, 100);
    // The flag counts at an agent's first registration only: this one may serve an app's only web.
    assert.equal(await webOf('web-1'), true, 'web stays on');
    const list = await cluster.waitForPs('shop', 'everything up after the restart', (l) => allUp(l, 'web', 8) && allUp(l, 'worker', 4));
    assert.deepEqual(ofType(list, 'web').filter((i) => i.host === 'web-1').map((i) => `${i.name}:${i.pid}`).sort(), before, 'same web processes');
  });

  it('moves web away when toggled off, never with fewer up, and keeps the workers', async () => {
    const workersBefore = ofType(await cluster.ps('shop'), 'worker').filter((i) => i.host === 'proc-1').map((i) => i.name).sort();
    let fewest = Infinity;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        // Through the API (psAt): every 50 ms, not one CLI start (~0.5 s) a sample.
        const list = await cluster.psAt('shop', cluster.server).catch(() => undefined);
        await sleep(50);
        if (!list) continue;
        fewest = Math.min(fewest, new Set(ofType(list, 'web').filter((i) => i.state === 'up').map((i) => i.name)).size);
        samples++;
      }
    })();
    const movedAway = (l: PsInstance[]) => allUp(l, 'web', 8) && !hostsOf(l, 'web').has('proc-1');
    assert.ok(hostsOf(await cluster.ps('shop'), 'web').has('proc-1'), 'web runs on proc-1 before');
    const off = await cluster.ok(['agents:web', 'proc-1', 'off', '--wait', '--timeout', '60s']);
    assert.match(off.stdout, /proc-1 runs no web now: its web instances move to other agents/);
    assert.doesNotMatch(off.stderr, /warning/, 'web-1 still runs web: no warning');
    assert.match(off.stderr, /shop: web instances moving off proc-1…\n[^]*All instances up in/);
    // Once --wait has returned: looked at once, not polled.
    const list = await cluster.ps('shop');
    assert.ok(movedAway(list), `every web up on web-1 when --wait returned: ${JSON.stringify(ofType(list, 'web').map((i) => [i.name, i.host, i.state]))}`);
    const again = await cluster.ok(['agents:web', 'proc-1', 'off', '--wait']);
    assert.match(again.stdout, /proc-1 runs no web already: nothing changed/);
    assert.match(again.stderr, /^proc-1 runs no web instance\.$/m);
    sampling = false;
    await sampler;
    assert.ok(samples >= 2, `sampled ps ${samples} times`);
    assert.equal(fewest, 8, 'never fewer than 8 web instances up');
    assert.deepEqual(ofType(list, 'worker').filter((i) => i.host === 'proc-1').map((i) => i.name).sort(), workersBefore, 'workers untouched');
    assert.equal(await webOf('proc-1'), false);
  });

  it('refuses an unknown agent, a malformed id and a value other than on or off', async () => {
    const unknown = await cluster.cli(['agents:web', 'nosuch', 'on']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /agent `nosuch` is not registered/);
    const waitOn = await cluster.cli(['agents:web', 'proc-1', 'on', '--wait']);
    assert.equal(waitOn.code, 1, waitOn.stderr);
    assert.match(waitOn.stderr, /--wait goes with off/);
    const bad = await cluster.cli(['agents:web', 'proc-1', 'maybe']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /`maybe` is not on or off/);
    const badId = await cluster.cli(['agents:web', 'no/such', 'off']);
    assert.equal(badId.code, 1);
    assert.match(badId.stderr, /invalid agent id `no\/such`/);
    assert.equal(await webOf('proc-1'), false, 'nothing changed');
    // web-1 is the last agent that runs web: off would leave every web instance pending.
    const last = await cluster.cli(['agents:web', 'web-1', 'off']);
    assert.equal(last.code, 1, last.stdout);
    assert.match(last.stderr, /no other ready agent runs web: the 8 web instance\(s\) on `web-1` \(`shop`\) would wait pending, unserved; turn web on elsewhere first \(`cluster agents:web ID on`\), or pass --force/);
    const waited = await cluster.cli(['agents:web', 'web-1', 'off', '--force', '--wait']);
    assert.equal(waited.code, 1, waited.stderr);
    assert.match(waited.stderr, /no other ready agent runs web: web-1's web instances would wait `pending` until one does \(`cluster agents:web ID on`\), so --wait would wait for that/);
    assert.equal(await webOf('web-1'), true, 'nothing changed');
  });

  it('says plainly that an agent runs web already (or runs none), exits 0 and writes nothing', async () => {
    const before = await toggleRevisions();
    const off = await cluster.cli(['agents:web', 'proc-1', 'off']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.stdout, 'proc-1 runs no web already: nothing changed.\n');
    assert.equal(off.stderr, '');
    // web-1 has no toggle at all (no key: web on); none is made.
    const on = await cluster.cli(['agents:web', 'web-1', 'on']);
    assert.equal(on.code, 0, on.stderr);
    assert.equal(on.stdout, 'web-1 runs web already: nothing changed.\n');
    // The control plane writes nothing either, whoever asks (the dashboard calls it directly).
    await callUnary(cluster.api, 'SetAgentWeb', { id: 'proc-1', web: false, force: false });
    await callUnary(cluster.api, 'SetAgentWeb', { id: 'web-1', web: true, force: false });
    assert.deepEqual(await toggleRevisions(), before);
    assert.ok(before.has('proc-1') && !before.has('web-1'), [...before.keys()].join());
  });

  it('agents:drain does not say that web instances move when no other ready agent runs web', async () => {
    const onWeb1 = (await cluster.ps('shop')).filter((i) => i.host === 'web-1');
    const webs = ofType(onWeb1, 'web').length;
    assert.equal(webs, 8);
    const drained = await cluster.ok(['agents:drain', 'web-1']);
    try {
      const whyNot = 'no other ready agent runs web \\(e\\.g\\. shop/web\\.\\d+\\); they keep running there';
      const expected = onWeb1.length === webs
        ? new RegExp(`^Draining web-1: none of its 8 instance\\(s\\) can move: ${whyNot}`)
        : new RegExp(`^Draining web-1: ${onWeb1.length - webs} of its ${onWeb1.length} instance\\(s\\) move to other agents, each new one up before the old one stops; 8 cannot move: ${whyNot}`);
      assert.match(drained.stdout, expected);
    } finally {
      await cluster.ok(['agents:activate', 'web-1']);
    }
  });

  it('refuses a web rule only a process server with web off fits, and web off where the rule fits no other agent', async () => {
    const webPids = async () => ofType(await cluster.ps('shop'), 'web').map((i) => `${i.name}@${i.host}:${i.pid}`).sort();
    const rules = async () => (await cluster.cliJson<{ rules: Array<{ type: string }> }>(['ps:place', '-a', 'shop'])).rules.map((r) => r.type);
    const before = await webPids();
    assert.equal(before.length, 8);
    // proc-1 carries disk=ssd but runs no web: every web instance would stop.
    const placed = await cluster.cli(['ps:place', 'web', 'disk=ssd', '-a', 'shop']);
    assert.equal(placed.code, 1, placed.stdout);
    assert.match(placed.stderr, /no ready agent that runs web fits disk=ssd \(`proc-1` fits but runs no web\): the 8 `web` instances of `shop` would stop and wait as pending\. Turn web on there first \(`cluster agents:web ID on`\), or give --force/);
    assert.deepEqual(await rules(), [], 'no rule set');
    assert.deepEqual(await webPids(), before, 'web untouched');

    // With web on there, the rule takes every web to proc-1; web off there then has nowhere to send them.
    await cluster.ok(['agents:web', 'proc-1', 'on']);
    await cluster.ok(['ps:place', 'web', 'disk=ssd', '-a', 'shop', '--wait', '--timeout', '60s']);
    try {
      const onProc1 = await webPids();
      assert.ok(onProc1.every((w) => w.includes('@proc-1:')), onProc1.join());
      const off = await cluster.cli(['agents:web', 'proc-1', 'off']);
      assert.equal(off.code, 1, off.stdout);
      assert.match(off.stderr, /no other ready agent matches the placement rule of `web` \(disk=ssd\) and runs web: the 8 web instance\(s\) on `proc-1` \(`shop`\) would wait pending, unserved; turn web on elsewhere first \(`cluster agents:web ID on`\), change the rule \(`cluster ps:place`\), or pass --force/);
      assert.equal(await webOf('proc-1'), true, 'web still on');
      assert.deepEqual(await webPids(), onProc1, 'web untouched');
    } finally {
      await cluster.ok(['ps:place', 'web', '-a', 'shop']);
      await cluster.ok(['agents:web', 'proc-1', 'off', '--wait', '--timeout', '60s']);
    }
    assert.ok((await webPids()).every((w) => w.includes('@web-1:')));
  });

  it('forgets the toggle of a removed process server: registered anew, its flag decides again', async () => {
    await cluster.ok(['agents:web', 'proc-1', 'on']);
    assert.equal(await webOf('proc-1'), true);
    await cluster.agents.get('proc-1')!.kill('SIGTERM');
    await waitFor('proc-1 down, its instances moved', async () => (await agents()).find((a) => a.id === 'proc-1')?.state === 'down', 30_000, 200);
    await cluster.ok(['agents:remove', 'proc-1']);
    cluster.restartAgent('proc-1');
    await cluster.waitForAgent('proc-1');
    assert.equal(await webOf('proc-1'), false, 'web off again, as --process-server says on a first registration');
  });
});
