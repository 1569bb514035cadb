/**
 * Bad input at the edge: each mistake is one clear sentence on stderr, exit 1, and
 * nothing changes; an unreachable control plane is exit 2.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../../lib/free-port';
import { agentProto } from '../../proto/load';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { waitFor } from '../helpers/wait-for';
import { parseScrape, valueOf } from '../helpers/prometheus-text';

describe('bad input', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    const dir = cluster.appDir('shop', { Procfile: 'web: sleep 1000\nworker: sleep 1000\n' });
    await cluster.deployApp('shop', dir);
    await cluster.ok(['scale', 'worker=2', '-a', 'shop']);
  });

  after(async () => {
    await cluster?.stop();
  });

  const formation = async () =>
    (await cluster.cliJson<{ instances: Array<{ name: string }> }>(['ps', '-a', 'shop'])).instances.map((i) => i.name).sort();

  const scaleCases: Array<[string[], RegExp]> = [
    [['worker=abc'], /worker=abc/],
    [['worker=-1'], /worker=-1/],
    [['worker=1.5'], /worker=1\.5/],
    [['=3'], /=3/],
    [['worker'], /worker/],
    [['worker=1001'], /1000/],
    [['clock=1'], /`clock` is not in release v1/],
    [['worker=2', 'worker=3'], /worker/],
    [['worker=3', '--wait', '--timeout', '30x'], /--timeout 30x: give seconds \(300\) or a duration \(30s, 5m, 1h\)/],
    [['worker=3', '--wait', '--timeout', '0s'], /--timeout 0s: give seconds/],
    [['worker=3', '--wait', '--timeout', '8d'], /--timeout 8d: at most 7d/],
  ];
  for (const [args, message] of scaleCases) {
    it(`refuses scale ${args.join(' ')} and changes nothing`, async () => {
      const before = await formation();
      const res = await cluster.cli(['scale', ...args, '-a', 'shop']);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, message);
      assert.equal(res.stderr.trim().split('\n').length, 1, 'one sentence');
      assert.equal(res.stdout, '');
      assert.deepEqual(await formation(), before);
    });
  }

  it('refuses an unknown app', async () => {
    const res = await cluster.cli(['scale', 'worker=1', '-a', 'nope']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /app `nope` not found/);
    // A typo of an app that exists: did you mean.
    const typo = await cluster.cli(['ps', '-a', 'shp']);
    assert.equal(typo.code, 1);
    assert.equal(typo.stderr, 'error: app `shp` not found: did you mean `shop`? (or create it with `cluster apps:create shp`)\n');
  });

  for (const name of ['Shop', '../etc', 'a_b', 'x-', 'x'.repeat(31)]) {
    it(`refuses the app name ${JSON.stringify(name)}`, async () => {
      const res = await cluster.cli(['apps:create', name]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /invalid app name/);
    });
  }

  it('refuses to deploy a directory without a Procfile', async () => {
    await cluster.ok(['apps:create', 'empty']);
    const dir = cluster.appDir('no-procfile', { 'README.txt': 'nothing here' });
    const res = await cluster.cli(['deploy', dir, '-a', 'empty']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /no Procfile .*in /);
    assert.deepEqual((await cluster.cliJson<{ releases: unknown[] }>(['releases', '-a', 'empty'])).releases, []);
  });

  for (const [what, procfile, message] of [
    ['a duplicate type', 'web: a\nworker: b\nweb: c\n', /line 3.*`web`.*line 1/],
    ['a malformed line', 'web: a\n\nthis is not a process\n', /line 3/],
    // Latin-1 `é`: decoded as UTF-8 it would quietly become U+FFFD in the command.
    ['a line that is not UTF-8', Buffer.from('web: a\nworker: echo caf\xe9\n', 'latin1'), /^error: Procfile line 2: byte 17 \(0xe9, byte 24 of the file\) is not UTF-8/],
  ] as const) {
    it(`refuses a Procfile with ${what}, naming the line, and deploys nothing`, async () => {
      const dir = cluster.appDir(`bad-${what.replace(/\W/g, '-')}`, { Procfile: procfile });
      const res = await cluster.cli(['deploy', dir, '-a', 'shop']);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, message);
      const { releases } = await cluster.cliJson<{ releases: Array<{ version: number }> }>(['releases', '-a', 'shop']);
      assert.deepEqual(releases.map((r) => r.version), [1]);
    });
  }

  it('refuses to deploy from outside the directory: an --env that is no name, a Procfile linking out', async () => {
    const releases = async () => (await cluster.cliJson<{ releases: Array<{ version: number }> }>(['releases', '-a', 'shop'])).releases.map((r) => r.version);
    const before = await releases();
    const dir = cluster.appDir('links-out', { Procfile: 'web: sleep 1000\n' });
    fs.writeFileSync(path.join(dir, '..', 'Procfile.outside'), 'web: echo not in the app\n');
    const env = await cluster.cli(['deploy', dir, '-a', 'shop', '--env', '../Procfile']);
    assert.equal(env.code, 1, env.stderr);
    assert.match(env.stderr, /^error: --env "\.\.\/Procfile": an environment name is .* in the deployed directory\n$/);
    fs.rmSync(path.join(dir, 'Procfile'));
    fs.symlinkSync('../Procfile.outside', path.join(dir, 'Procfile'));
    const link = await cluster.cli(['deploy', dir, '-a', 'shop']);
    assert.equal(link.code, 1, link.stderr);
    assert.match(link.stderr, /^error: Procfile links to \S+\/Procfile\.outside, outside the deployed directory \S+\/links-out: /);
    assert.doesNotMatch(link.stderr, /Packed|Uploading/);
    assert.deepEqual(await releases(), before);
  });

  it('refuses --env NAME without its Procfile variant before packing or uploading anything', async () => {
    const releases = async () => (await cluster.cliJson<{ releases: Array<{ version: number }> }>(['releases', '-a', 'shop'])).releases.map((r) => r.version);
    const before = await releases();
    const dir = cluster.appDir('no-variant', { Procfile: 'web: sleep 1000\n', 'Procfile.staging': 'web: sleep 1000\n', 'big.bin': 'x'.repeat(1 << 20) });
    const res = await cluster.cli(['deploy', dir, '-a', 'shop', '--env', 'production']);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(
      res.stderr,
      `error: no Procfile.production or Procfile_production in ${dir} (Procfile is used only without --env): add one, or deploy without --env production\n`,
    );
    assert.deepEqual(await releases(), before);
  });

  it('refuses destroy without --confirm', async () => {
    const res = await cluster.cli(['apps:destroy', 'shop']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /--confirm shop/);
  });

  it('refuses an explicitly empty -a or --server instead of falling back to CLUSTER_APP or CLUSTER_SERVER', async () => {
    const config = async () => (await cluster.cliJson<{ config: Record<string, string> }>(['config', '-a', 'shop'])).config;
    const before = await config();
    for (const args of [['config:set', '-a', '', 'EMPTY_FLAG=1'], ['config:set', '--app=', 'EMPTY_FLAG=1'], ['ps', '-a', '']]) {
      const res = await cluster.cli(args, { env: { CLUSTER_APP: 'shop' } });
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stdout}`);
      assert.match(res.stderr, /^error: --app is empty: give the app's name, -a NAME\n$/);
      assert.equal(res.stdout, '');
    }
    assert.deepEqual(await config(), before, 'nothing set on the app CLUSTER_APP names');
    // CLUSTER_SERVER is this cluster's address: an empty --server must not reach it.
    const res = await cluster.cli(['--server', '', 'apps']);
    assert.equal(res.code, 2, res.stdout);
    assert.match(res.stderr, /^error: --server is empty: give HOST:PORT\[,HOST:PORT…\]\n$/);
    assert.equal(res.stdout, '');
  });

  it('says which address it could not reach, with exit 2', async () => {
    const port = await freePort();
    const res = await cluster.cli(['ps', '-a', 'shop'], { server: `127.0.0.1:${port}` });
    assert.equal(res.code, 2);
    assert.match(res.stderr, new RegExp(`cannot reach the control plane at 127\\.0\\.0\\.1:${port}`));
  });

  it('says that something else answers at an address that is etcd\'s client port, with exit 2', async () => {
    const etcd = new URL(cluster.etcd.urls[0]!).host;
    const res = await cluster.cli(['apps'], { server: etcd });
    assert.equal(res.code, 2, res.stderr);
    assert.equal(res.stderr, `error: something else answers at ${etcd} (unknown service cluster.api.ClusterApi): it is not a cluster control plane; check --server or CLUSTER_SERVER\n`);
  });

  it('refuses daemon flags before touching etcd: a bad --listen, a joining agent --datacenter or --label placement could never name', async () => {
    const etcd = cluster.etcd.urls.join(',');
    const cases: Array<[string[], RegExp]> = [
      [['control-plane', 'start', '--etcd', etcd, '--listen', 'bogus', '--prefix', '/bad-listen/'], /--listen: `bogus` has no port/],
      [['control-plane', 'start', '--etcd', etcd, '--listen', '127.0.0.1:99999', '--prefix', '/bad-listen/'], /--listen: `127\.0\.0\.1:99999`: port 99999 is not 1-65535/],
      [['agent', 'join', '--server', cluster.server, '--token', 'abcdef.0123456789abcdef01234567', '--datacenter', 'eu west!'], /invalid datacenter `eu west!`/],
      [['agent', 'join', '--server', cluster.server, '--token', 'abcdef.0123456789abcdef01234567', '--label', 'role='], /invalid value `` of label `role`/],
    ];
    for (const [args, message] of cases) {
      const res = await cluster.cli(args);
      assert.equal(res.code, 1, `${args.join(' ')}: ${res.stdout}`);
      assert.match(res.stderr, message);
    }
    const etcdClient = createEtcdClient(cluster.etcd.urls);
    try {
      assert.deepEqual(await etcdClient.getAll().prefix('/bad-listen/').keys(), [], 'nothing written to etcd');
    } finally {
      etcdClient.close();
    }
  });

  it('refuses an agent with more labels than the control plane registers, before it starts (start, join, install)', async () => {
    const labels = Array.from({ length: 101 }, (_, i) => ['--label', `k${i + 1}=v`]).flat();
    const token = ['--token', 'abcdef.0123456789abcdef01234567'];
    for (const args of [
      ['agent', 'start', '--server', cluster.server, '--name', 'bad-2', '--data-dir', path.join(cluster.dir, 'bad-labels')],
      ['agent', 'join', '--server', cluster.server, ...token, '--name', 'bad-2', '--data-dir', path.join(cluster.dir, 'bad-labels-join')],
      ['agent', 'install', '--server', cluster.server, ...token, '--name', 'bad-2', '--dry-run'],
    ]) {
      const res = await cluster.cli([...args, ...labels]);
      assert.equal(res.code, 1, `${args.slice(0, 2).join(' ')}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, /--label: 101 labels; an agent carries at most 100 \(docs\/limits\.md\): the control plane would refuse to register this agent/);
    }
    const joinToken = await cluster.cli(['agents:token', ...labels]);
    assert.equal(joinToken.code, 1, joinToken.stdout);
    assert.match(joinToken.stderr, /--label: 101 labels; an agent carries at most 100 \(docs\/limits\.md\): the control plane would refuse to register an agent joining with this token/);
    const install = await cluster.cli(['agent', 'install', '--server', cluster.server, ...token, '--name', 'bad name', '--dry-run']);
    assert.equal(install.code, 1);
    assert.match(install.stderr, /invalid agent id `bad name`/);
    const agents = await cluster.cli(['agents', '--json']);
    assert.ok(!agents.stdout.includes('bad-2'), agents.stdout);
  });

  it('says that a control plane without TLS needs no login, instead of "cannot reach"', async () => {
    const res = await cluster.cli(['login', '--server', cluster.server, '--token', 'abcdef.0123456789abcdef01234567']);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /the control plane at \S+ runs without TLS: no login is needed/);
    // And that agents need no join or token there; operators no login.
    const join = await cluster.cli(['agent', 'join', '--server', cluster.server, '--token', 'abcdef.0123456789abcdef01234567', '--no-start', '--data-dir', `${cluster.dir}/join-plain`]);
    assert.equal(join.code, 1, join.stdout);
    assert.match(join.stderr, /the control plane at \S+ runs without TLS: agents need no join, start one with `cluster agent start --server \S+`/);
    const agentToken = await cluster.cli(['agents:token']);
    assert.equal(agentToken.code, 1);
    assert.match(agentToken.stderr, /runs without TLS \(on loopback, or --insecure\): agents need no token/);
    const operatorToken = await cluster.cli(['operators:token']);
    assert.equal(operatorToken.code, 1);
    assert.match(operatorToken.stderr, /runs without TLS \(on loopback, or --insecure\): the CLI needs no login/);
  });

  it('checks agent install flags before anything (a service that fails each start), and passes every start flag on', async () => {
    const install = ['agent', 'install', '--server', cluster.server, '--token', 't', '--dry-run'];
    for (const [flags, said] of [
      [['--ports', '6000-5000'], /--ports 6000-5000/],
      [['--stop-grace', 'abc'], /--stop-grace abc: give a whole number above 0/],
      [['--disconnected-grace', '-4'], /--disconnected-grace -4: give a number of seconds/],
      [['--listen', 'nonsense'], /--listen: /],
      [['--metrics', 'x:y'], /--metrics x:y/],
      [['--ca-hash', 'sha256:00'], /--ca-hash sha256:00: give the pin printed with the token/],
    ] as const) {
      const res = await cluster.cli([...install, ...flags]);
      assert.equal(res.code, 1, `${flags.join(' ')}: ${res.stdout}`);
      assert.match(res.stderr, said);
    }
    const ok = await cluster.cli([...install, '--metrics', '127.0.0.1:9101', '--usage-interval', '2', '--log-mib-total', '512']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /agent start .*--log-mib-total 512 --metrics 127\.0\.0\.1:9101 --usage-interval 2/);
  });

  it('keeps serving after malformed agent messages', async () => {
    // A forged agent id and a status for a malformed instance are refused, not fatal.
    const client = new (agentProto().AgentApi)(cluster.server, grpc.credentials.createInsecure());
    const err = await new Promise<Error | null>((resolve) =>
      client.ReportStatus({ agent_id: '../../evil', lease_id: '1', statuses: [{ app: 'A B', instance: '../x' }] }, (e: Error | null) => resolve(e)),
    );
    client.close();
    assert.ok(err, 'refused');
    assert.equal((await cluster.cli(['apps'])).code, 0, 'the control plane still answers');
  });

  it('keeps serving while a Heartbeats stream floods heartbeats without reading the answers', { timeout: 90_000 }, async () => {
    // Each heartbeat with a lease not the agent's is checked against etcd (a Range). All at once,
    // 20,000 of them took the control plane's memory up by 150 MB and stalled it, and at times it
    // did not answer `cluster apps`. Now it works through them while the answers fit on the way to
    // the caller (a few thousand), then waits for the caller to read: 1,000 shows it at work
    // without counting on how many answers the transport holds or on a quiet machine.
    const ranges = async () => {
      const scrape = parseScrape(await (await fetch(`${cluster.etcd.members[0]!.url}/metrics`)).text());
      return valueOf(scrape, 'grpc_server_handled_total', { grpc_method: 'Range', grpc_code: 'OK' }) ?? 0;
    };
    const pid = cluster.controlPlane!.pid;
    const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const client = new (agentProto().AgentApi)(cluster.server, grpc.credentials.createInsecure());
    const call = client.Heartbeats();
    call.on('error', () => undefined);
    call.pause();
    const before = await ranges();
    const rssBefore = rssMiB();
    let rssMax = rssBefore;
    const sent = 20_000;
    for (let beat = 1; beat <= sent; beat++) call.write({ agent_id: 'host-a', lease_id: '1', beat });
    try {
      await waitFor('the control plane to work through the heartbeats', async () => {
        rssMax = Math.max(rssMax, rssMiB());
        return (await ranges()) - before >= 1_000;
      }, 45_000, 200);
      assert.ok(rssMax - rssBefore < 64, `the control plane grew from ${Math.round(rssBefore)} to ${Math.round(rssMax)} MiB`);
      const apps = await cluster.cli(['apps']);
      assert.equal(apps.code, 0, `the control plane still answers: ${apps.stderr}`);
      // Read again, the stream goes on: its heartbeats are answered.
      const beats = new Set<number>();
      call.on('data', (reply: { beat: number }) => beats.add(reply.beat));
      call.resume();
      await waitFor('answers', () => [1, 2, 3, 50, 100].every((b) => beats.has(b)), 30_000, 50);
    } finally {
      call.cancel();
      client.close();
    }
  });

  it('answers a malformed one-off start on an agent with a status, not a stream left open', { timeout: 30_000 }, async () => {
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; address: string }> }>(['agents']);
    const client = new (agentProto().AgentRun)(agents.find((a) => a.id === 'host-a')!.address, grpc.credentials.createInsecure());
    try {
      for (const first of [{ stdin: Buffer.from('x') }, { start: { app: 'A B', instance: 'run.1', command: 'true' } }]) {
        const call = client.Run();
        const status = await new Promise<grpc.StatusObject>((resolve) => {
          call.on('status', resolve);
          call.on('error', () => undefined);
          call.on('data', () => undefined);
          call.write(first);
        });
        assert.equal(status.code, grpc.status.INVALID_ARGUMENT, `${JSON.stringify(first)}: ${status.details}`);
      }
    } finally {
      client.close();
    }
  });
});
