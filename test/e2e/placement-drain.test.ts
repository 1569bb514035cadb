/**
 * Placement rules and drains, end to end: labelled agents in two datacenters, a type kept
 * to `role=web` hosts (pending with the reason while none matches), a type pinned to a
 * datacenter, and a drain that moves everything off a host without ever having fewer
 * instances up than the formation asks for.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { sleep, waitFor } from '../helpers/wait-for';
import { listening } from '../helpers/processes';

// Each instance logs when it gets SIGTERM (bash's clock: no fork between the signal and the
// reading), so the order of a move can be checked from outside: the new copy must have been
// spawned (what \`up\` means) before the old one is told to stop.
const LOOP = `trap 'echo "term $CLUSTER_INSTANCE $CLUSTER_HOST $EPOCHREALTIME" >> "$1/events"; exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

interface Term {
  instance: string;
  host: string;
  atMs: number;
}

/** SIGTERMs logged by the app's processes from byte `offset` of the log on. */
function termsSince(file: string, offset: number): Term[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file).subarray(offset).toString();
  return text.split('\n').filter(Boolean).map((line) => {
    const [, instance, host, at] = line.split(' ') as [string, string, string, string];
    return { instance, host, atMs: Number(at.replace(',', '.')) * 1000 };
  });
}

/** Old copies told to stop before their new copy (as `ps` shows it now) was spawned elsewhere. */
function stoppedTooEarly(terms: Term[], now: PsInstance[]): string[] {
  return terms
    .filter((t) => {
      const copy = now.find((i) => i.name === t.instance);
      return !copy?.startedAt || copy.host === t.host || Date.parse(copy.startedAt) >= t.atMs;
    })
    .map((t) => `${t.instance}@${t.host}`);
}

interface AgentJson {
  id: string;
  datacenter: string;
  labels: Record<string, string>;
  state: string;
  instances: number;
  heartbeatAgeMs: number | null;
  drained: boolean;
}

const ofType = (list: PsInstance[], type: string) => list.filter((i) => i.type === type);
const upOn = (list: PsInstance[], type: string, n: number, hosts?: string[]) => {
  const mine = ofType(list, type);
  return mine.length === n && mine.every((i) => i.state === 'up' && (!hosts || hosts.includes(i.host ?? '')));
};

/**
 * Polls `ps` until stopped and remembers the fewest instances of each type seen up at once:
 * a move that stops an old copy before its new one is up shows as a dip.
 */
function sampleUp(cluster: TestCluster, app: string, types: string[]) {
  const fewest = new Map<string, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      // Through the API when the harness can (cluster.ps): a CLI start per sample (~0.5 s of CPU
      // on a loaded machine) once left a quick move with a single sample.
      const list = await cluster.ps(app).catch(() => undefined);
      await sleep(50); // pacing: a sample every ~50 ms, not a busy loop on the control plane
      if (!list) continue;
      samples++;
      for (const type of types) {
        const up = new Set(ofType(list, type).filter((i) => i.state === 'up').map((i) => i.name)).size;
        fewest.set(type, Math.min(fewest.get(type) ?? Infinity, up));
      }
    }
  })();
  return {
    async stop(): Promise<{ fewest: Map<string, number>; samples: number }> {
      running = false;
      await loop;
      return { fewest, samples };
    },
  };
}

describe('placement rules and drains', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let events: string;
  const mark = () => (fs.existsSync(events) ? fs.statSync(events).size : 0);

  const agents = async () => (await cluster.cliJson<{ agents: AgentJson[] }>(['agents'])).agents;

  before(async () => {
    cluster = await TestCluster.start({
      agents: [
        { id: 'web-1', datacenter: 'fra1', labels: { role: 'web' } },
        { id: 'web-2', datacenter: 'ams1', labels: { role: 'web' } },
        { id: 'proc-1', datacenter: 'fra1', labels: { role: 'worker' } },
        { id: 'proc-2', datacenter: 'ams1', labels: { role: 'worker' } },
      ],
    });
    const markers = path.join(cluster.dir, 'markers');
    fs.mkdirSync(markers);
    events = path.join(markers, 'events');
    const dir = cluster.appDir('shop', {
      Procfile: `web: ${listening(`bash loop.sh ${markers}`)}\nworker: bash loop.sh ${markers}\nclock: bash loop.sh ${markers}\n`,
      'loop.sh': LOOP,
    });
    await cluster.deployApp('shop', dir);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('lists the agents with their labels, datacenter, state and heartbeat age', async () => {
    const list = await agents();
    assert.deepEqual(list.map((a) => `${a.id} ${a.datacenter} ${a.labels.role} ${a.state}`), [
      'proc-1 fra1 worker ready',
      'proc-2 ams1 worker ready',
      'web-1 fra1 web ready',
      'web-2 ams1 web ready',
    ]);
    await waitFor('a heartbeat age for every agent', async () => (await agents()).every((a) => a.heartbeatAgeMs !== null && a.heartbeatAgeMs < 5_000));
    const table = await cluster.ok(['agents']);
    assert.match(table.stdout, /HEARTBEAT/);
    // No one-offs; capacity: the default 1000, lowered to the 100 ports a test agent hands out.
    assert.match(table.stdout, /web-1\s+\S+\s+fra1\s+role=web\s+ready\s+\d+\s+0\s+100\s+\d+\.\d+\.\d+\S*\s+\d+s ago/);
  });

  it('moves running web instances onto role=web hosts when the rule is set, never with fewer up', async () => {
    await cluster.ok(['scale', 'web=4', 'worker=4', '-a', 'shop', '--wait']);
    const before = await cluster.ps('shop');
    assert.ok(ofType(before, 'web').some((i) => i.host?.startsWith('proc-')), 'web starts out on every host');
    const sampler = sampleUp(cluster, 'shop', ['web', 'worker']);
    const from = mark();
    const set = await cluster.ok(['ps:place', 'web', 'role=web', '-a', 'shop', '--wait']);
    assert.match(set.stdout, /web of shop now runs only on agents with role=web/);
    assert.match(set.stderr, /4\/4 up where the rule allows\nAll instances up in [\d.]+ s\.\n$/);
    // --wait returns once every web instance is up on a role=web host (old copies are stopped after, below).
    const placed = await cluster.ps('shop');
    assert.ok(upOn(placed, 'web', 4, ['web-1', 'web-2']) && upOn(placed, 'worker', 4), JSON.stringify(placed));
    const { fewest, samples } = await sampler.stop();
    assert.ok(samples >= 2, `sampled ps ${samples} times`);
    assert.equal(fewest.get('web'), 4, 'never fewer than 4 web instances up');
    assert.equal(fewest.get('worker'), 4, 'workers untouched');
    const moving = ofType(before, 'web').filter((i) => i.host?.startsWith('proc-')).length;
    await waitFor('every old copy stopped', () => termsSince(events, from).length === moving);
    assert.deepEqual(stoppedTooEarly(termsSince(events, from), await cluster.ps('shop')), [], 'each old copy stopped only after its new copy was up');
    const rules = await cluster.cliJson<{ rules: unknown[] }>(['ps:place', '-a', 'shop']);
    assert.deepEqual(rules, { rules: [{ type: 'web', labels: { role: 'web' }, datacenter: null }] });
    // The table alone on stdout (a header and a row per rule); the note about other types on stderr.
    const table = await cluster.ok(['ps:place', '-a', 'shop']);
    assert.deepEqual(table.stdout.trimEnd().split('\n').map((line) => line.split(/ +/)), [['TYPE', 'LABELS', 'DATACENTER'], ['web', 'role=web', '-']]);
    assert.equal(table.stderr, 'Other types may run on any agent.\n');
  });

  it('refuses a rule no agent fits while the type runs, and with --force leaves web pending with the reason', async () => {
    // A typo in a label would stop every web instance at once.
    const before = ofType(await cluster.ps('shop'), 'web').map((i) => `${i.name}@${i.host}:${i.pid}`);
    const refused = await cluster.cli(['ps:place', 'web', 'role=edge', '-a', 'shop']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /no ready agent fits role=edge: the 4 `web` instances of `shop` would stop and wait as pending\. Check the labels and datacenters in `cluster agents`, or give --force/);
    const rules = await cluster.cliJson<{ rules: Array<{ labels: Record<string, string> }> }>(['ps:place', '-a', 'shop']);
    assert.deepEqual(rules.rules.map((r) => r.labels), [{ role: 'web' }], 'the rule is unchanged');
    assert.deepEqual(ofType(await cluster.ps('shop'), 'web').map((i) => `${i.name}@${i.host}:${i.pid}`), before, 'web untouched');
    // A label or datacenter no agent could carry is named as malformed, not as a rule no agent fits.
    for (const [args, message] of [
      [['role=a b'], /invalid value `a b` of label `role`/],
      [['--datacenter', 'ams 1'], /ams 1/],
      [['role=web', 'role=edge'], /label `role` given twice \(web, then edge\): give each key once/],
    ] as const) {
      const malformed = await cluster.cli(['ps:place', 'web', ...args, '-a', 'shop']);
      assert.equal(malformed.code, 1, malformed.stdout);
      assert.match(malformed.stderr, message);
      assert.doesNotMatch(malformed.stderr, /no ready agent fits|--force/);
    }
    const forced = await cluster.cli(['ps:place', 'web', 'role=edge', '--force', '-a', 'shop', '--wait']);
    assert.equal(forced.code, 1, 'set, but --wait names why it cannot be done');
    assert.match(forced.stdout, /web of shop now runs only on agents with role=edge/);
    assert.match(forced.stderr, /4 instance\(s\) cannot be placed: no agent matches the placement rule of `web` \(role=edge\)/);
    const list = await cluster.waitForPs('shop', 'web pending', (l) => ofType(l, 'web').length === 4 && ofType(l, 'web').every((i) => i.state === 'pending'));
    for (const i of ofType(list, 'web')) assert.equal(i.reason, 'no agent matches the placement rule of `web` (role=edge)');
    const wait = await cluster.cli(['scale', 'web=4', '-a', 'shop', '--wait', '--timeout', '10']);
    assert.equal(wait.code, 1);
    assert.match(wait.stderr, /cannot be placed: no agent matches the placement rule of `web` \(role=edge\)/);
    await cluster.ok(['ps:place', 'web', 'role=web', '-a', 'shop']);
    await cluster.waitForPs('shop', 'web back on role=web hosts', (l) => upOn(l, 'web', 4, ['web-1', 'web-2']));
  });

  it('pins a type to a datacenter', async () => {
    await cluster.ok(['ps:place', 'clock', '--datacenter', 'ams1', '-a', 'shop']);
    await cluster.ok(['scale', 'clock=2', '-a', 'shop']);
    await cluster.waitForPs('shop', 'both clocks up in ams1', (l) => upOn(l, 'clock', 2, ['web-2', 'proc-2']));
    const bad = await cluster.cli(['ps:place', 'nosuch', 'role=web', '-a', 'shop']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /process type `nosuch` is not in release v1/);
  });

  it('drains a host: everything moves off, new copies up before old ones stop, nothing new lands there', async () => {
    const before = await cluster.ps('shop');
    const onHost = before.filter((i) => i.host === 'proc-2');
    assert.ok(onHost.length > 0, 'proc-2 runs something');
    const sampler = sampleUp(cluster, 'shop', ['web', 'worker', 'clock']);
    const from = mark();
    const res = await cluster.cli(['agents:drain', 'proc-2', '--wait', '--timeout', '60']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /proc-2 is drained/);
    const list = await cluster.waitForPs('shop', 'every instance up off proc-2', (l) =>
      upOn(l, 'web', 4) && upOn(l, 'worker', 4) && upOn(l, 'clock', 2) && !l.some((i) => i.host === 'proc-2'),
    );
    const { fewest } = await sampler.stop();
    assert.deepEqual(Object.fromEntries(fewest), { web: 4, worker: 4, clock: 2 }, 'never fewer up than the formation');
    await waitFor('every old copy on proc-2 stopped', () => termsSince(events, from).length === onHost.length);
    assert.deepEqual(stoppedTooEarly(termsSince(events, from), list), [], 'each old copy stopped only after its new copy was up');
    assert.ok(ofType(list, 'clock').every((i) => i.host === 'web-2'), 'the pinned clocks stay in ams1');
    const proc2 = (await agents()).find((a) => a.id === 'proc-2')!;
    assert.equal(proc2.state, 'draining');
    assert.equal(proc2.instances, 0);
    await cluster.ok(['scale', 'worker=8', '-a', 'shop']);
    const scaled = await cluster.waitForPs('shop', '8 workers up', (l) => upOn(l, 'worker', 8));
    assert.ok(!scaled.some((i) => i.host === 'proc-2'), 'nothing new is placed on a drained host');
  });

  it('activates a drained host: it receives new instances again', async () => {
    const res = await cluster.ok(['agents:activate', 'proc-2']);
    assert.match(res.stdout, /proc-2 is active again/);
    assert.equal((await agents()).find((a) => a.id === 'proc-2')!.state, 'ready');
    // Again, and an agent never drained: said to be active already, nothing changed (exit 0).
    for (const id of ['proc-2', 'web-1']) {
      const again = await cluster.ok(['agents:activate', id]);
      assert.equal(again.stdout.trim(), `${id} was not drained: it is active already. Nothing changed.`);
    }
    await cluster.ok(['scale', 'worker=12', '-a', 'shop']);
    const list = await cluster.waitForPs('shop', '12 workers up', (l) => upOn(l, 'worker', 12));
    assert.ok(list.some((i) => i.type === 'worker' && i.host === 'proc-2'), 'new workers land on proc-2');
  });

  it('keeps instances that fit nowhere else running on a drained host, and says so', async () => {
    await cluster.ok(['ps:place', 'clock', 'role=web', '--datacenter', 'ams1', '-a', 'shop']);
    // The clocks already run on web-2: a third one placed there (not on proc-2, in ams1 too) shows
    // the leader has the new rule before the drain is asked for.
    await cluster.ok(['scale', 'clock=3', '-a', 'shop']);
    await cluster.waitForPs('shop', 'three clocks on web-2', (l) => upOn(l, 'clock', 3, ['web-2']));
    await cluster.ok(['scale', 'clock=2', '-a', 'shop']);
    await cluster.waitForPs('shop', 'both clocks on web-2', (l) => upOn(l, 'clock', 2, ['web-2']));
    const res = await cluster.cli(['agents:drain', 'web-2', '--wait', '--timeout', '60']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, /2 instance\(s\) cannot move off web-2: no ready agent matches the placement rule of `clock` \(role=web, datacenter ams1\)/);
    const list = await cluster.waitForPs('shop', 'web moved to web-1, clocks still up on web-2', (l) =>
      upOn(l, 'web', 4, ['web-1']) && upOn(l, 'clock', 2, ['web-2']));
    assert.match(list.find((i) => i.name === 'clock.1')!.reason, /^cannot move off drained web-2: /);
    // The table says it too, although the clocks are up.
    assert.match((await cluster.ok(['ps', '-a', 'shop'])).stdout, /^clock\.1 +up +web-2 .*\(cannot move off drained web-2: no ready agent matches/m);
    // The clocks are where the rule lets them run (a drained host it fits counts): --wait has nothing to wait for.
    const placed = await cluster.cli(['ps:place', 'clock', 'role=web', '--datacenter', 'ams1', '--force', '-a', 'shop', '--wait', '--timeout', '20']);
    assert.equal(placed.code, 0, placed.stderr);
    assert.match(placed.stderr, /2\/2 up where the rule allows/);
    await cluster.ok(['agents:activate', 'web-2']);
    await cluster.ok(['ps:place', 'clock', '--datacenter', 'ams1', '-a', 'shop']);
  });

  it('waits with --wait for the one-offs still running on a drained host (they are not moved), and names them', async () => {
    const started = await cluster.ok(['run', '-a', 'shop', '--detach', '--', 'sleep 100099']);
    const name = /run\.\d+/.exec(started.stdout)?.[0];
    assert.ok(name, started.stdout);
    const running = await cluster.waitForPs('shop', `${name} up`, (l) => l.some((i) => i.name === name && i.state === 'up'));
    const host = running.find((i) => i.name === name)!.host!;
    const res = await cluster.cli(['agents:drain', host, '--wait', '--timeout', '5']);
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`${host}: 0 instance\\(s\\) left, 1 one-off process\\(es\\) still running \\(shop/${name}\\)`));
    assert.match(res.stderr, new RegExp(`error: ${host} still runs 1 one-off process\\(es\\) after 5 s \\(shop/${name}\\): they are not moved; wait for them to end, or stop one \\(\`cluster ps:stop ${name} -a shop\`\\)`));
    assert.doesNotMatch(res.stderr, /is drained/);
    await cluster.ok(['ps:stop', name, '-a', 'shop']);
    const drained = await cluster.cli(['agents:drain', host, '--wait', '--timeout', '60']);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stderr, new RegExp(`${host} is drained .*: it runs nothing and receives nothing`));
    await cluster.ok(['agents:activate', host]);
  });

  it('moves a crash-looping instance off a drained host at once: its old copy serves nothing to wait for', async () => {
    await cluster.deployProcfile('broken', 'worker: echo boom; exit 3\n');
    await cluster.ok(['scale', 'worker=1', '-a', 'broken']);
    const looping = await cluster.waitForPs('broken', 'worker.1 crashed after restarts', (l) =>
      l.some((i) => i.name === 'worker.1' && i.state === 'crashed' && i.restarts >= 1));
    const host = looping.find((i) => i.name === 'worker.1')!.host!;
    // Its replacement crash-loops too, so it never comes up: before, the old copy was held for
    // the replacement's 2 minutes, far past this timeout.
    const res = await cluster.cli(['agents:drain', host, '--wait', '--timeout', '60']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, new RegExp(`${host} is drained`));
    const moved = await cluster.ps('broken');
    assert.deepEqual(moved.map((i) => i.name), ['worker.1']);
    assert.notEqual(moved[0]!.host, host, 'the instance runs elsewhere');
    await cluster.ok(['agents:activate', host]);
    await cluster.ok(['apps:destroy', 'broken', '--confirm', 'broken']);
  });

  it('keeps listing a drained host that went away as down, activated or not, until it is removed', async () => {
    await cluster.ok(['agents:drain', 'proc-1', '--wait', '--timeout', '60']);
    await cluster.agents.get('proc-1')!.kill('SIGTERM');
    await waitFor('proc-1 listed as down', async () => (await agents()).find((a) => a.id === 'proc-1')?.state === 'down', 20_000, 200);
    // Down, and still drained: said beside its state, and in --json.
    assert.equal((await agents()).find((a) => a.id === 'proc-1')?.drained, true);
    assert.match((await cluster.ok(['agents'])).stdout, /^proc-1 .* down \(drained\) /m);
    const activated = await cluster.ok(['agents:activate', 'proc-1']);
    assert.match(activated.stdout, /proc-1 is no longer drained; it is down/);
    assert.equal((await agents()).find((a) => a.id === 'proc-1')?.state, 'down');
    await cluster.ok(['agents:remove', 'proc-1']);
    assert.ok(!(await agents()).some((a) => a.id === 'proc-1'), 'proc-1 gone from the list');
    const missing = await cluster.cli(['agents:drain', 'nosuch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /agent `nosuch` is not registered/);
  });
});
