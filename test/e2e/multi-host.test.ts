/**
 * Real multi-host: a control plane and three agents, each in its own network namespace
 * with its own address, joined with tokens over mutual TLS, in two datacenters.
 * Partitions are made by taking a host's link down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, pidsMatching, type CliResult, type PsInstance } from '../helpers/test-cluster';
import { netnsUnavailable, TestNetwork } from '../helpers/netns';
import { waitFor } from '../helpers/wait-for';
import { listening } from '../helpers/processes';

const skip = netnsUnavailable();
const AGENT_TTL_S = 2;

const LOOP = `trap 'exit 0' TERM
while true; do echo "$CLUSTER_INSTANCE on $CLUSTER_HOST"; sleep 1 & wait $!; done
`;

describe('several hosts (network namespaces, mutual TLS)', { skip, timeout: 300_000 }, () => {
  let net: TestNetwork;
  let dir: string;
  let server: string;
  const daemons: ChildProcess[] = [];
  let appMarker: string;

  const home = () => path.join(dir, 'home');

  /** Runs the CLI on a host (default: the control plane's, where the operator credential is). */
  function cli(args: string[], opts: { host?: string; home?: string } = {}): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = net.spawn(opts.host ?? 'cp', process.execPath, [CLI, ...args], {
        env: { ...process.env, CLUSTER_SERVER: server, CLUSTER_HOME: opts.home ?? home(), NO_COLOR: '1' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code: code ?? 99, stdout, stderr }));
    });
  }
  const ok = async (args: string[]) => {
    const res = await cli(args);
    assert.equal(res.code, 0, `cluster ${args.join(' ')}: ${res.stderr}`);
    return res;
  };
  const ps = async () => (JSON.parse((await ok(['ps', '-a', 'shop', '--json'])).stdout) as { instances: PsInstance[] }).instances;
  const token = async (...extra: string[]) =>
    JSON.parse((await ok(['agents:token', '--json', ...extra])).stdout) as { token: string; caHash: string; expiresAt: string };

  function daemon(host: string, args: string[], log: string): ChildProcess {
    const fd = fs.openSync(path.join(dir, log), 'a');
    const child = net.spawn(host, process.execPath, [CLI, ...args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, CLUSTER_HOME: home(), CLUSTER_LOG_LEVEL: 'debug' },
    });
    fs.closeSync(fd);
    daemons.push(child);
    return child;
  }

  function join(host: string, name: string, args: string[], extra: string[] = []): ChildProcess {
    return daemon(host, ['agent', 'join', '--server', server, '--name', name, '--data-dir', path.join(dir, name),
      '--listen', `${net.host(host).address}:7601`, '--ports', '5000-5099', '--stop-grace', '3', ...args, ...extra], `${name}.log`);
  }

  /** App processes per host, by where they really run. */
  function processesPerHost(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const pid of pidsMatching(appMarker)) {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.startsWith('sh\0loop.sh')) continue; // the instance's own shell, not `sh -c` around it
      const host = net.hostOf(pid) ?? 'elsewhere';
      counts.set(host, (counts.get(host) ?? 0) + 1);
    }
    return counts;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-hosts-'));
    net = TestNetwork.create(['cp', 'a1', 'a2', 'a3']);
    server = `${net.host('cp').address}:7600`;
    // etcd runs on the control plane's host, on its loopback.
    daemons.push(net.spawn('cp', 'etcd', [
      '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', 'http://127.0.0.1:2379', '--advertise-client-urls', 'http://127.0.0.1:2379',
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--snapshot-count', '10000', '--logger=zap', '--log-level=warn',
    ], { stdio: 'ignore' }));
    daemon('cp', ['control-plane', 'start', '--etcd', 'http://127.0.0.1:2379', '--listen', server,
      '--data-dir', path.join(dir, 'cp'), '--agent-ttl', String(AGENT_TTL_S)], 'control-plane.log');
    await waitFor('the control plane to answer over TLS', async () => (await cli(['apps'])).code === 0, 30_000, 200);
  });

  after(async () => {
    for (const d of daemons) d.kill('SIGKILL');
    await Promise.all(daemons.filter((d) => d.exitCode === null && d.signalCode === null).map((d) => new Promise((r) => d.once('exit', r))));
    // Instances of killed agents are stopped by their orphan guards; make sure before removing the hosts.
    await waitFor('app processes to end', () => pidsMatching(dir).length === 0, 15_000).catch(() => {
      for (const pid of pidsMatching(dir)) process.kill(pid, 'SIGKILL');
    });
    net?.destroy();
    if (!process.env.KEEP_TEST_DIRS) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('joins three agents with a token and the CA pin, in two datacenters', async () => {
    const web = await token('--uses', '1', '--label', 'role=web', '--datacenter', 'dc-1');
    const plain = await token('--uses', '2');
    join('a1', 'a1', ['--token', web.token, '--ca-hash', web.caHash]);
    join('a2', 'a2', ['--token', plain.token, '--ca-hash', plain.caHash, '--datacenter', 'dc-1']);
    join('a3', 'a3', ['--token', plain.token, '--ca-hash', plain.caHash, '--datacenter', 'dc-2']);
    const agents = await waitFor('three agents', async () => {
      const list = JSON.parse((await ok(['agents', '--json'])).stdout) as { agents: Array<{ id: string; address: string; datacenter: string; labels: Record<string, string> }> };
      return list.agents.length === 3 ? list.agents : undefined;
    }, 30_000, 200);
    assert.deepEqual(agents.map((a) => [a.id, a.address, a.datacenter]), [
      ['a1', `${net.host('a1').address}:7601`, 'dc-1'],
      ['a2', `${net.host('a2').address}:7601`, 'dc-1'],
      ['a3', `${net.host('a3').address}:7601`, 'dc-2'],
    ]);
    assert.deepEqual(agents[0]!.labels, { role: 'web' }, 'labels from the token');
  });

  it('refuses expired, reused and unknown tokens, and a wrong CA pin', async () => {
    const scratch = (n: string) => ['agent', 'join', '--server', server, '--name', n, '--data-dir', path.join(dir, `scratch-${n}`), '--no-start'];
    const once = await token('--uses', '1');
    const first = await cli([...scratch('x1'), '--token', once.token, '--ca-hash', once.caHash], { host: 'a3' });
    assert.equal(first.code, 0, first.stderr);
    const reused = await cli([...scratch('x2'), '--token', once.token, '--ca-hash', once.caHash], { host: 'a3' });
    assert.notEqual(reused.code, 0);
    assert.match(reused.stderr, /used up/);
    const unknown = await cli([...scratch('x3'), '--token', 'abcdef.0123456789abcdef01234567', '--ca-hash', once.caHash], { host: 'a3' });
    assert.match(unknown.stderr, /not known/);
    const pinned = await token('--uses', '1');
    // A malformed pin or agent flag is refused before the token is spent (exit 1).
    for (const [flags, said] of [
      [['--ca-hash', 'notahash'], /--ca-hash notahash: give the pin printed with the token: sha256: and 64 hex digits/],
      [['--ca-hash', pinned.caHash, '--ports', '6000-5000'], /--ports 6000-5000/],
      [['--ca-hash', pinned.caHash, '--stop-grace', 'abc'], /--stop-grace abc: give a whole number above 0/],
    ] as const) {
      const bad = await cli([...scratch('x6'), '--token', pinned.token, ...flags], { host: 'a3' });
      assert.equal(bad.code, 1, `${flags.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, said);
    }
    // A server whose CA is not the pinned one is refused (exit 2: it refused us), also before the token is spent.
    const wrongPin = await cli([...scratch('x4'), '--token', pinned.token, '--ca-hash', `sha256:${'0'.repeat(64)}`], { host: 'a3' });
    assert.equal(wrongPin.code, 2, wrongPin.stderr);
    assert.match(wrongPin.stderr, /presented CA sha256:[0-9a-f]{64}, not the expected sha256:0{64}: refusing to trust it/);
    const unspent = await cli([...scratch('x7'), '--token', pinned.token, '--ca-hash', pinned.caHash], { host: 'a3' });
    assert.equal(unspent.code, 0, `the refusals spent no use of the token: ${unspent.stderr}`);
    // Bad flags are refused before anything is made, naming the flag.
    for (const [flag, value, said] of [
      ['--uses', 'abc', /--uses abc: give a whole number from 1 to 1000/],
      ['--uses', '0', /--uses 0: give a whole number from 1 to 1000/],
      ['--ttl', '0', /--ttl 0: a token may be valid from 1s to 7d/],
      ['--label', 'team=a b', /invalid value `a b` of label `team`/],
      ['--datacenter', 'eu west!', /invalid datacenter `eu west!`/],
    ] as const) {
      const bad = await cli(['agents:token', flag, value]);
      assert.equal(bad.code, 1, `${flag} ${value}: ${bad.stdout}`);
      assert.match(bad.stderr, said);
    }
    const short = await token('--ttl', '1s');
    await waitFor('the token to expire', () => Date.now() > Date.parse(short.expiresAt) + 200, 5_000);
    const expired = await cli([...scratch('x5'), '--token', short.token, '--ca-hash', short.caHash], { host: 'a3' });
    assert.match(expired.stderr, /expired/);
  });

  it('refuses a client without a certificate', async () => {
    const res = await cli(['apps'], { host: 'a1', home: path.join(dir, 'stranger') });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /cluster login|requires a credential/);
  });

  it('spreads worker=9 3/3/3 over both datacenters and keeps web on role=web hosts', async () => {
    appMarker = path.join(dir, 'app-marker');
    fs.mkdirSync(path.join(dir, 'app'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'app', 'Procfile'), `web: ${listening(`sh loop.sh ${appMarker}`)}\nworker: sh loop.sh ${appMarker}\n`);
    fs.writeFileSync(path.join(dir, 'app', 'loop.sh'), LOOP);
    await ok(['apps:create', 'shop']);
    await ok(['deploy', path.join(dir, 'app'), '-a', 'shop']);
    await ok(['ps:place', 'web', 'role=web', '-a', 'shop']);
    await ok(['scale', 'web=2', 'worker=9', '-a', 'shop', '--wait']);
    const list = await ps();
    const workers = new Map<string, number>();
    for (const i of list.filter((x) => x.type === 'worker')) workers.set(i.host!, (workers.get(i.host!) ?? 0) + 1);
    assert.deepEqual([...workers.entries()].sort(), [['a1', 3], ['a2', 3], ['a3', 3]]);
    assert.ok(list.filter((x) => x.type === 'web').every((x) => x.host === 'a1'), 'web only on role=web');
    const perHost = await waitFor('processes to run where ps says', () => {
      const counts = processesPerHost();
      return counts.get('a1') === 5 && counts.get('a2') === 3 && counts.get('a3') === 3 ? counts : undefined;
    }, 10_000);
    assert.equal(perHost.get('elsewhere'), undefined);
  });

  it('merges log lines from all three hosts', async () => {
    const lines = await waitFor('lines from every host', async () => {
      const res = await cli(['logs', '-a', 'shop', '-n', '200', '--json']);
      const hosts = new Set(res.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { host: string }).host));
      return hosts.size === 3 ? hosts : undefined;
    }, 15_000, 300);
    assert.deepEqual([...lines].sort(), ['a1', 'a2', 'a3']);
  });

  it('re-places the instances of a cut-off host within the bound, and leaves no duplicates when it heals', async () => {
    const before = await ps();
    const onA2 = before.filter((i) => i.host === 'a2').map((i) => i.name);
    const others = new Map(before.filter((i) => i.host !== 'a2').map((i) => [i.name, i.pid]));
    const cut = Date.now();
    net.setLink('a2', false);
    const moved = await waitFor('a2’s instances up elsewhere', async () => {
      const list = await ps();
      return onA2.every((n) => list.some((i) => i.name === n && i.state === 'up' && i.host !== 'a2')) ? list : undefined;
    }, 15_000, 200);
    // Measured by when the moved processes started, not by when a `ps` on a busy machine saw them.
    const took = Math.max(...onA2.map((n) => Date.parse(moved.find((i) => i.name === n)!.startedAt!))) - cut;
    assert.ok(took <= 5_000 + AGENT_TTL_S * 1000, `re-placed in ${took} ms (seen up after ${Date.now() - cut} ms)`);
    for (const [name, pid] of others) assert.equal(moved.find((i) => i.name === name)?.pid, pid, `${name} did not move`);

    net.setLink('a2', true);
    await waitFor('a2 back, owning nothing of what moved, and one process per instance', async () => {
      const agents = JSON.parse((await ok(['agents', '--json'])).stdout) as { agents: Array<{ id: string; state: string }> };
      const counts = processesPerHost();
      const list = await ps();
      const expected = new Map<string, number>();
      for (const i of list) expected.set(i.host!, (expected.get(i.host!) ?? 0) + 1);
      return agents.agents.some((a) => a.id === 'a2' && a.state === 'ready') && !counts.has('a2') && [...expected].every(([h, n]) => counts.get(h) === n);
    }, 30_000, 300);
    const after = await ps();
    assert.equal(after.length, 11, 'no duplicates in ps');
    assert.equal(new Set(after.map((i) => i.name)).size, 11);
    for (const i of after) assert.equal(moved.find((m) => m.name === i.name)?.pid, i.pid, `${i.name} did not move again`);
  });

  it('drains a host: everything moves off it, and activate lets it take work again', async () => {
    await ok(['agents:drain', 'a3', '--wait']);
    const list = await ps();
    assert.ok(!list.some((i) => i.host === 'a3'), 'nothing on a3');
    assert.equal(list.filter((i) => i.state === 'up').length, 11);
    await waitFor('a3’s processes gone', () => !processesPerHost().has('a3'), 15_000);
    await ok(['agents:activate', 'a3']);
    await ok(['scale', 'worker=12', '-a', 'shop', '--wait']);
    assert.ok((await ps()).some((i) => i.host === 'a3'), 'a3 takes new work');
  });
});

// Keep a reference so `execFileSync` stays available for debugging sessions.
void execFileSync;
