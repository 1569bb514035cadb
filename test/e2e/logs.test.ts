/**
 * `cluster logs` across three agents: every line once, in time order, the filters, live
 * following, lines kept across a crash and an agent restart, and a host that cannot be
 * reached.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { freePort } from '../../lib/free-port';
import { waitFor } from '../helpers/wait-for';

// Prints 20 numbered lines, then echoes whatever the test drops into its trigger file.
const TALKER = `trap 'exit 0' TERM
i=1
while [ $i -le 20 ]; do echo "$CLUSTER_INSTANCE line $i"; i=$((i + 1)); done
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ]; then cat "$f"; rm -f "$f"; fi
  sleep 0.05
done
`;

interface JsonLine {
  time: string;
  app: string;
  instance: string;
  host: string;
  stream: string;
  line: string;
}

describe('cluster logs', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;

  const logs = async (...args: string[]): Promise<JsonLine[]> => {
    const res = await cluster.cli(['logs', '-a', 'chat', '--json', ...args]);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine);
  };
  // Written aside and renamed: the talker must never find the file created but still empty.
  const say = (instance: string, text: string) => {
    const file = path.join(triggers, `${instance}.say`);
    fs.writeFileSync(`${file}.tmp`, `${text}\n`);
    fs.renameSync(`${file}.tmp`, file);
  };
  const output = (lines: JsonLine[]) => lines.filter((l) => l.stream === 'stdout');

  before(async () => {
    cluster = await TestCluster.start({
      agents: [{ id: 'host-a' }, { id: 'host-b', datacenter: 'dc-2' }, { id: 'host-c' }],
    });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const dir = cluster.appDir('chat', { Procfile: `talker: sh talker.sh ${triggers}\nother: sh talker.sh ${triggers}\n`, 'talker.sh': TALKER });
    await cluster.deployApp('chat', dir);
    await cluster.ok(['scale', 'talker=3', 'other=1', '-a', 'chat', '--wait']);
    await waitFor('every instance to print its 20 lines', async () => output(await logs('-n', '1000')).length === 80);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('merges every line of every instance on every host once, in time order', async () => {
    const lines = await logs('-n', '1000');
    const out = output(lines);
    assert.equal(out.length, 80);
    assert.equal(new Set(out.map((l) => `${l.instance}/${l.line}`)).size, 80, 'no line twice');
    assert.equal(new Set(out.map((l) => l.host)).size, 3, 'lines from all three hosts');
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i - 1]!.time <= lines[i]!.time, 'time order');
    for (const name of ['talker.1', 'talker.2', 'talker.3', 'other.1']) {
      const mine = out.filter((l) => l.instance === name).map((l) => l.line);
      assert.deepEqual(mine, Array.from({ length: 20 }, (_, n) => `${name} line ${n + 1}`), 'per-instance order');
    }
    const system = lines.filter((l) => l.stream === 'system').map((l) => l.line);
    assert.ok(system.some((t) => /Starting process with command `sh talker.sh/.test(t)), system.join('\n'));
  });

  it('applies -n to the merged history', async () => {
    const all = await logs('-n', '1000');
    const last = await logs('-n', '7');
    assert.deepEqual(last, all.slice(-7));
    // -n all streams each host's files, merged by time as they come: every line once, in time order.
    const every = await logs('-n', 'all');
    const key = (l: JsonLine) => `${l.host}/${l.instance}/${l.time}/${l.line}`;
    assert.deepEqual(new Set(every.map(key)), new Set(all.map(key)));
    assert.equal(every.length, all.length);
    assert.equal(new Set(every.map((l) => l.host)).size, 3);
    for (let i = 1; i < every.length; i++) assert.ok(every[i - 1]!.time <= every[i]!.time, `time order across hosts at line ${i}`);
    // Above 100,000 the hosts stream (not gathered), merged the same way.
    const big = await cluster.cli(['logs', '-a', 'chat', '-n', '100001', '--json']);
    assert.equal(big.code, 0, big.stderr);
    assert.equal(big.stderr, '');
    const bigLines = big.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine);
    assert.deepEqual(bigLines.map(key), every.map(key));
  });

  it('ends quietly, exit 0, when its reader goes away (`| head`)', async () => {
    const reader = spawn(process.execPath, [CLI, 'logs', '-a', 'chat', '-n', '10', '--tail'], {
      env: { ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') },
    });
    let stderr = '';
    reader.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let code: number | null | undefined;
    reader.on('exit', (c) => (code = c));
    try {
      // As `head -1` does: read a first chunk, then close the pipe.
      await new Promise((resolve) => reader.stdout.once('data', resolve));
      reader.stdout.destroy();
      // The next lines it writes meet the closed pipe.
      let n = 0;
      await waitFor('the follower to end', () => {
        say('other.1', `after the reader left ${++n}`);
        return code !== undefined;
      }, 20_000, 300);
      assert.equal(code, 0, stderr);
      assert.doesNotMatch(stderr, /EPIPE|Error/);
    } finally {
      if (code === undefined) reader.kill('SIGKILL');
    }
  });

  it('filters by process type, instance and host', async () => {
    const type = output(await logs('-n', '1000', '--ps', 'talker'));
    assert.equal(type.length, 60);
    assert.ok(type.every((l) => l.instance.startsWith('talker.')));
    const one = output(await logs('-n', '1000', '--ps', 'talker.2'));
    assert.equal(one.length, 20);
    assert.ok(one.every((l) => l.instance === 'talker.2'));
    const host = (await cluster.ps('chat')).find((i) => i.name === 'other.1')!.host!;
    const onHost = await logs('-n', '1000', '--host', host);
    assert.ok(onHost.length > 0 && onHost.every((l) => l.host === host));
    // A host id no agent could have is refused; a host that is not there is named with those that keep lines.
    const malformed = await cluster.cli(['logs', '-a', 'chat', '-n', '10', '--host', 'host a']);
    assert.equal(malformed.code, 1, malformed.stdout);
    assert.match(malformed.stderr, /^error: --host: invalid agent id `host a`/m);
    const absent = await cluster.cli(['logs', '-a', 'chat', '-n', '10', '--host', 'hst-a']);
    assert.equal(absent.code, 0, absent.stderr);
    assert.equal(absent.stdout, '');
    assert.match(absent.stderr, /^warning: no live agent `hst-a` \(lines of `chat` are kept on host-a, host-b, host-c\)$/m);
    // A type the app does not have (a typo) prints nothing, and says why on stderr; one it has, no warning.
    for (const filter of [['-p', 'talkr'], ['-d', 'talkr.2']]) {
      const typo = await cluster.cli(['logs', '-a', 'chat', '-n', '10', ...filter]);
      assert.equal(typo.code, 0, typo.stderr);
      assert.equal(typo.stdout, '');
      assert.match(typo.stderr, /^warning: `talkr` is not a process type of `chat` \(its types: other, talker\); only lines it left under an earlier release can show$/m);
    }
    const beyond = await cluster.cli(['logs', '-a', 'chat', '-n', '10', '-d', 'talker.99']);
    assert.equal(beyond.code, 0, beyond.stderr);
    assert.equal(beyond.stdout, '');
    assert.match(beyond.stderr, /^warning: `talker\.99` is beyond `chat`'s formation \(talker=3\); only lines it left before a scale-down can show$/m);
    const known = await cluster.cli(['logs', '-a', 'chat', '-n', '1', '-d', 'talker.3']);
    assert.equal(known.stderr, '');
  });

  it('prints the documented plain format', async () => {
    const res = await cluster.cli(['logs', '-a', 'chat', '-n', '3', '--ps', 'other.1']);
    assert.equal(res.code, 0, res.stderr);
    for (const line of res.stdout.trim().split('\n')) {
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (app|cluster)\[other\.1\]: /);
    }
    const host = (await cluster.ps('chat')).find((i) => i.name === 'other.1')!.host!;
    const withHost = await cluster.cli(['logs', '-a', 'chat', '-n', '3', '--ps', 'other.1', '--show-host']);
    for (const line of withHost.stdout.trim().split('\n')) {
      assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z (app|cluster)\\[other\\.1\\] ${host}: `));
    }
  });

  it('follows with --tail: a line printed after it started shows within a second', async () => {
    const follower = spawn(process.execPath, [CLI, 'logs', '-a', 'chat', '-n', '0', '--tail', '--json'], {
      env: { ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') },
    });
    let seen = '';
    follower.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    try {
      // The stream is open once it answers; prove it with a first marker, then time a second.
      await waitFor('the follower to see a first marker', () => {
        say('talker.1', 'warm-up marker');
        return seen.includes('warm-up marker');
      }, 15_000, 300);
      const sent = Date.now();
      say('talker.3', 'live marker');
      await waitFor('the live marker', () => seen.includes('live marker'), 5_000, 10);
      assert.ok(Date.now() - sent < 1_000, `took ${Date.now() - sent} ms`);
    } finally {
      follower.kill('SIGINT');
    }
  });

  it('keeps the lines a worker printed just before kill -9, across its restart', async () => {
    say('talker.2', 'last words before the crash');
    await waitFor('the last words to be logged', async () =>
      output(await logs('-n', '50', '--ps', 'talker.2')).some((l) => l.line === 'last words before the crash'));
    const before = (await cluster.ps('chat')).find((i) => i.name === 'talker.2')!;
    process.kill(before.pid!, 'SIGKILL');
    await cluster.waitForPs('chat', 'talker.2 restarted', (l) => l.some((i) => i.name === 'talker.2' && i.restarts === 1 && i.state === 'up'));
    const lines = await logs('-n', '1000', '--ps', 'talker.2');
    const text = lines.map((l) => l.line);
    const words = text.indexOf('last words before the crash');
    const exit = text.findIndex((t) => /Process exited with status 137|killed by SIGKILL/.test(t));
    assert.ok(words >= 0 && exit > words, text.join('\n'));
    assert.equal(output(lines).filter((l) => l.line === 'talker.2 line 1').length, 2, 'both runs are there');
    // The restart spawns before the agent writes about the crash (agent/supervisor/instance.ts):
    // its lines still come in order, and before the new run's first line.
    // (`up` comes once its boot check passed: after lines of the new run.)
    const order = ['State changed from up to crashed', 'State changed from crashed to starting', 'Starting process with command']
      .map((line) => text.findIndex((t, i) => i > exit && t.startsWith(line)));
    const secondRun = text.lastIndexOf('talker.2 line 1');
    assert.ok(order.every((at, i) => at > (i === 0 ? exit : order[i - 1]!)) && secondRun > order[2]!, text.join('\n'));
  });

  it("keeps an instance's earlier lines after its agent restarts", async () => {
    const host = (await cluster.ps('chat')).find((i) => i.name === 'other.1')!.host!;
    const before = output(await logs('-n', '1000', '--ps', 'other.1')).map((l) => l.line);
    await cluster.agents.get(host)!.kill('SIGTERM');
    cluster.startAgent({ id: host, datacenter: host === 'host-b' ? 'dc-2' : 'dc-1' });
    // Up again where it was (taken over), or elsewhere if the new agent came after its lease on
    // a loaded machine: either way its earlier lines stay on `host`, and logs reads every host.
    await cluster.waitForPs('chat', 'other.1 up again', (l) => l.some((i) => i.name === 'other.1' && i.state === 'up'), 30_000);
    await cluster.waitForAgents(3);
    // Until the new agent answers on `host`, logs warns that the host cannot be reached (the old
    // agent's registration outlives it by its lease) or is not registered (between the two
    // agents), or, when the old lease expired before the new agent registered, does not know
    // the host keeps lines of the app (that record lives under the agent's lease). The state to
    // test is `host` answering: its lines are in the answer.
    const afterLines = await waitFor(`${host} to answer logs after the restart`, async () => {
      const res = await cluster.cli(['logs', '-a', 'chat', '--json', '-n', '1000', '--ps', 'other.1']);
      if (res.code !== 0 || /cannot be reached|not registered now/.test(res.stderr)) return undefined;
      const lines = output(res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine));
      return lines.some((l) => l.host === host) ? lines.map((l) => l.line) : undefined;
    }, 30_000);
    assert.deepEqual(afterLines.slice(0, before.length), before, 'the earlier lines are still there, first');
  });

  it('reports a host it cannot reach and still shows the others', async () => {
    // An agent whose advertised address answers nothing, running one instance.
    const dead = `127.0.0.1:${await freePort()}`;
    cluster.startAgent({ id: 'host-mute', advertise: dead });
    await cluster.waitForAgents(4);
    await cluster.ok(['scale', 'talker=6', '-a', 'chat', '--wait']);
    await waitFor('host-mute to run an instance', async () => (await cluster.ps('chat')).some((i) => i.host === 'host-mute'));
    const res = await cluster.cli(['logs', '-a', 'chat', '-n', '1000', '--json']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /host-mute .*cannot be reached/);
    const hosts = new Set(res.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as JsonLine).host));
    assert.deepEqual([...hosts].sort(), ['host-a', 'host-b', 'host-c']);
  });
});
