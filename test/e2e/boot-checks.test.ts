/**
 * Boot checks (docs/boot-checks.md): web is `starting` until it accepts connections on $PORT, a
 * rolling restart waits for that before stopping the next old instance, and a release whose web
 * never binds stops its rollout (the old release keeps serving) and fails `deploy --wait`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestCluster, type PsInstance } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

type Ps = PsInstance & { release: number | null; port: number | null };

// Listens on $PORT once the gate file (argument 1) exists, so the test decides when web boots.
const WEB_JS = `const fs = require('node:fs');
const http = require('node:http');
const gate = process.argv[2];
const timer = setInterval(() => {
  if (!fs.existsSync(gate)) return;
  clearInterval(timer);
  http.createServer((req, res) => res.end(process.env.CLUSTER_RELEASE + '\\n')).listen(Number(process.env.PORT), () => console.log('Listening'));
}, 50);
process.on('SIGTERM', () => {
  fs.appendFileSync(gate + '.terms', process.pid + '\\n');
  process.exit(0);
});
`;

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

describe('boot checks', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let gates: string;
  const gate = (name: string) => path.join(gates, name);
  const deploy = (version: string, extra: string[] = []) => {
    const dir = cluster.appDir(`site-${version}`, { Procfile: `web: exec node web.js ${gate(version)}\n`, 'web.js': WEB_JS });
    return cluster.cli(['deploy', dir, '-a', 'site', ...extra], { timeoutMs: 90_000 });
  };
  const ps = async () => (await cluster.ps('site')) as Ps[];
  const webs = (list: Ps[]) => list.filter((i) => i.type === 'web');

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }] });
    gates = path.join(cluster.dir, 'gates');
    fs.mkdirSync(gates);
    await cluster.ok(['apps:create', 'site']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('keeps web starting until it accepts connections on $PORT', async () => {
    assert.equal((await deploy('v1')).code, 0);
    await cluster.ok(['scale', 'web=2', '-a', 'site']);
    const starting = await cluster.waitForPs('site', 'both webs spawned, waiting for $PORT', (l) =>
      webs(l as Ps[]).length === 2 && webs(l as Ps[]).every((i) => i.state === 'starting' && i.pid !== null && /waiting for \$PORT/.test(i.reason)));
    assert.ok(starting.every((i) => i.host !== null));
    fs.writeFileSync(gate('v1'), '');
    const list = (await cluster.waitForPs('site', 'both webs up', (l) => webs(l as Ps[]).filter((i) => i.state === 'up').length === 2)) as Ps[];
    for (const web of webs(list)) assert.ok(await accepts(web.port!), `${web.name} accepts connections once up`);
  });

  it('rolls a new release one web at a time, each waiting for the previous to bind', async () => {
    const before = webs(await ps());
    const waiting = deploy('v2', ['--wait']);
    // One web restarts on v2 and waits for its port; the other stays up on v1 meanwhile.
    const mid = (await cluster.waitForPs('site', 'one web starting on v2', (l) =>
      webs(l as Ps[]).some((i) => i.release === 2 && i.state === 'starting'))) as Ps[];
    const old = webs(mid).find((i) => i.release === 1)!;
    assert.equal(old.state, 'up');
    for (let i = 0; i < 5; i++) {
      const again = webs(await ps()).find((w) => w.name === old.name)!;
      assert.deepEqual([again.state, again.release, again.pid], ['up', 1, before.find((w) => w.name === old.name)!.pid], 'the old web keeps serving');
    }
    fs.writeFileSync(gate('v2'), '');
    const res = await waiting;
    assert.equal(res.code, 0, res.stderr);
    const after = webs(await ps());
    assert.ok(after.every((i) => i.state === 'up' && i.release === 2), JSON.stringify(after));
  });

  it('stops the rollout of a web that never binds: the old release keeps serving and deploy --wait exits 1', async () => {
    const set = await cluster.cli(['ps:boot-timeout', 'web=3', '-a', 'site']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /web=3s/);
    assert.deepEqual(await cluster.cliJson(['ps:boot-timeout', '-a', 'site']), { app: 'site', bootTimeoutMs: { web: 3000 } }, 'with no TYPE=…: the settings');
    const before = webs(await ps());
    const res = await deploy('v3', ['--wait']); // its gate never opens
    assert.equal(res.code, 1, res.stdout + res.stderr);
    assert.match(res.stderr, /web\.\d failed on v3 .*did not bind \$PORT within 3 s/);
    const list = webs(await ps());
    const failed = list.filter((i) => i.release === 3);
    assert.equal(failed.length, 1, `only one web tried v3: ${JSON.stringify(list)}`);
    assert.ok(failed[0]!.restarts >= 1 || failed[0]!.state === 'crashed');
    assert.match(failed[0]!.reason, /did not bind \$PORT within 3 s/);
    const serving = list.find((i) => i.release === 2)!;
    assert.equal(serving.state, 'up');
    // Each shows its own release's command, not the newest one's.
    assert.equal(serving.command, `exec node web.js ${gate('v2')}`);
    assert.equal(failed[0]!.command, `exec node web.js ${gate('v3')}`);
    assert.equal(serving.pid, before.find((i) => i.name === serving.name)!.pid, 'the old web was never stopped');
    assert.ok(await accepts(serving.port!));
    // The failure is in the logs as Heroku's R10.
    await waitFor('the R10 line in logs, then the process gone', async () =>
      /Error R10 \(Boot timeout\)[^\n]*stopping it \(SIGKILL\)\n[^\n]*Process did not bind/.test((await cluster.cli(['logs', '-a', 'site', '-n', '200'])).stdout), 20_000);
    // A SIGKILL alone, as the line says: the v3 web records every SIGTERM it gets.
    assert.equal(fs.existsSync(`${gate('v3')}.terms`), false, 'no v3 web got a SIGTERM');
  });

  it('refuses web=0, absurd values and unknown types, changing nothing', async () => {
    for (const [arg, message] of [
      ['web=0', /web=0: web instances always wait for \$PORT/],
      ['web=100000', /from 1 to 600/],
      ['web=abc', /expected TYPE=SECONDS/],
    ] as const) {
      const res = await cluster.cli(['ps:boot-timeout', arg, '-a', 'site']);
      assert.equal(res.code, 1, arg);
      assert.match(res.stderr, message);
    }
    const unknown = await cluster.cli(['ps:boot-timeout', 'worker=30', '-a', 'site']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /process type `worker` is not in release v\d+ of `site` \(it has: web\)/);
  });

  it('scale --wait reports workers up only after their 2 s, and exits 1 for a worker that crashes at start', async () => {
    await cluster.deployProcfile('jobs', 'worker: exec sleep 100000\ncrashy: sleep 0.2; exit 3\n');
    const started = Date.now();
    const good = await cluster.cli(['scale', 'worker=4', '-a', 'jobs', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
    assert.equal(good.code, 0, good.stderr);
    assert.ok(Date.now() - started >= 2_000, 'up means 2 s alive (docs/boot-checks.md)');
    assert.match(good.stderr, /All instances up/);
    const workers = (await cluster.ps('jobs')).filter((i) => i.type === 'worker');
    assert.equal(workers.length, 4);
    assert.ok(workers.every((i) => i.state === 'up'), JSON.stringify(workers));
    // Alive for 0.2 s: never up. --wait gives up once it crash-loops, naming it, instead of waiting out its timeout.
    const bad = await cluster.cli(['scale', 'crashy=2', '-a', 'jobs', '--wait', '--timeout', '60'], { timeoutMs: 90_000 });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /crashy\.\d is crash-looping on host-[ab]: exited with status 3/);
  });

  it('lists the default web boot timeout, and the agent default grace, next to the types set', async () => {
    await cluster.deployProcfile('both', 'web: exec sleep 100000\nworker: exec sleep 100000\n');
    const boot = await cluster.cli(['ps:boot-timeout', 'worker=5', '-a', 'both']);
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stdout, /Boot timeouts of both: worker=5s web=60s \(default\)\. They apply from the next start\./);
    assert.match((await cluster.cli(['ps:boot-timeout', '-a', 'both'])).stdout, /Boot timeouts of both: worker=5s web=60s \(default\)\./);
    assert.deepEqual(await cluster.cliJson(['ps:boot-timeout', '-a', 'both']), { app: 'both', bootTimeoutMs: { worker: 5000 } }, 'JSON: only the types set');
    const grace = await cluster.cli(['ps:grace', 'worker=10', '-a', 'both']);
    assert.equal(grace.code, 0, grace.stderr);
    assert.match(grace.stdout, /Grace periods of both: worker=10s; every other type the agent's default\./);
  });
});
