/**
 * Convox's docker-compose example (examples/convox) deployed with the real CLI: `web` runs the
 * Dockerfile's CMD with its `environment:` default, `worker` its own command, `redis` is a backing
 * service; what .gitignore lists is not uploaded; a Dockerfile without CMD is refused up front.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('compose as Convox reads it, packed as git does', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let dir: string;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    dir = path.join(cluster.dir, 'convox');
    fs.cpSync(path.join(REPO, 'examples', 'convox'), dir, { recursive: true });
    // What a developer's checkout also has: dependencies and secrets that .gitignore lists.
    fs.mkdirSync(path.join(dir, 'node_modules', 'left-pad'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules', 'left-pad', 'index.js'), 'module.exports = 1;\n');
    fs.writeFileSync(path.join(dir, '.env'), 'SECRET=do-not-upload\n');
  });

  after(async () => {
    await cluster?.stop();
  });

  /** The log lines of the app so far. */
  async function logs(): Promise<string> {
    const res = await cluster.cli(['logs', '-a', 'convox', '-n', '500']);
    return res.stdout;
  }

  it('doctor passes the example, naming the CMD web runs and the backing service', async () => {
    const res = await cluster.cli(['doctor', dir]);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(res.stdout, /✓ Dockerfile found \(built by web, worker\)/);
    assert.match(res.stdout, /✓ process type web \(service on line \d+; Dockerfile line 6: CMD\): .*exec npm start/);
    assert.match(res.stdout, /! docker-compose\.yml line \d+: service `redis` only names an image \(redis:7\): a backing service/);
  });

  it('deploys the example: web runs the Dockerfile CMD with its environment default, worker its command', async () => {
    await cluster.ok(['apps:create', 'convox']);
    const deploy = await cluster.cli(['deploy', dir, '-a', 'convox']);
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stderr, /warning: docker-compose\.yml line \d+: service `redis` only names an image/);
    assert.match(deploy.stderr, /^Packed \d+ files \(.*\); left out \(\.gitignore, \.clusterignore\): \.env, node_modules\/$/m);
    assert.match(deploy.stdout, /Released v1 of convox .*: web, worker/);
    // Every service once, as `docker compose up` starts them (the backing service left out).
    assert.match(deploy.stdout, /^Scaled convox to web=1 worker=1 \(its first deploy\)/m);

    const scale = await cluster.cli(['scale', 'web=1', 'worker=1', '-a', 'convox', '--wait', '--timeout', '60']);
    assert.equal(scale.code, 0, scale.stderr);
    const instances = await cluster.waitForPs('convox', 'web.1 and worker.1 up', (list) =>
      ['web.1', 'worker.1'].every((name) => list.some((i) => i.name === name && i.state === 'up')),
    );
    assert.match(instances.find((i) => i.name === 'web.1')!.command, /npm start$/);
    assert.equal(instances.find((i) => i.name === 'worker.1')!.command, 'npm run work');

    // Both programs really run (npm started them): web listens on its $PORT and answers.
    const port = await waitFor('web to listen', async () => /web listening on (\d+)/.exec(await logs())?.[1], 45_000, 250);
    await waitFor('the worker to start', async () => /worker started/.test(await logs()), 45_000, 250);
    const body = await waitFor('web to answer', async () => (await fetch(`http://127.0.0.1:${port}/`)).text(), 15_000, 250);
    assert.equal(body, 'hello from compose from web.1\n');
  });

  it('takes the first deploy\'s formation from deploy.replicas, and leaves it alone on later deploys', async () => {
    const app = cluster.appDir('replicas', {
      'docker-compose.yml': 'services:\n  web:\n    command: sleep 1000\n    deploy: {replicas: 0}\n  worker:\n    command: sleep 1000\n    deploy:\n      replicas: 2\n',
    });
    await cluster.ok(['apps:create', 'replicas']);
    const first = await cluster.cli(['deploy', app, '-a', 'replicas']);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Scaled replicas to worker=2 \(its first deploy\)/m);
    assert.equal((await cluster.ok(['scale', '-a', 'replicas'])).stdout.trim(), 'web=0 worker=2');
    await cluster.ok(['scale', 'worker=1', '-a', 'replicas']);
    const second = await cluster.cli(['deploy', app, '-a', 'replicas']);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /Scaled/);
    assert.equal((await cluster.ok(['scale', '-a', 'replicas'])).stdout.trim(), 'web=0 worker=1');

    // More replicas than the control plane allows: refused as `scale` would be, before any release.
    const tooMany = cluster.appDir('toomany', { 'docker-compose.yml': 'services:\n  worker:\n    command: sleep 1000\n    deploy: {replicas: 5000}\n' });
    await cluster.ok(['apps:create', 'toomany']);
    const refused = await cluster.cli(['deploy', tooMany, '-a', 'toomany']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /worker=5000: 5000 instances of `worker`; this control plane allows at most 1000 per process type/);
    assert.match((await cluster.ok(['releases', '-a', 'toomany'])).stdout, /no releases/i);
    // Once the app has code, a deploy's replicas are not applied, nor checked.
    fs.writeFileSync(path.join(tooMany, 'docker-compose.yml'), 'services:\n  worker:\n    command: sleep 1000\n    deploy: {replicas: 1}\n');
    await cluster.ok(['deploy', tooMany, '-a', 'toomany']);
    fs.writeFileSync(path.join(tooMany, 'docker-compose.yml'), 'services:\n  worker:\n    command: sleep 1000\n    deploy: {replicas: 5000}\n');
    const later = await cluster.cli(['deploy', tooMany, '-a', 'toomany']);
    assert.equal(later.code, 0, later.stderr);
    assert.equal((await cluster.ok(['scale', '-a', 'toomany'])).stdout.trim(), 'worker=1');
  });

  it('lets a config var override the environment default', async () => {
    const res = await cluster.cli(['config:set', 'GREETING=hello from config', '-a', 'convox', '--wait']);
    assert.equal(res.code, 0, res.stderr);
    await waitFor(
      'web to answer with the config var',
      async () => {
        const port = [...(await logs()).matchAll(/web listening on (\d+)/g)].map((m) => m[1]).pop();
        return (await fetch(`http://127.0.0.1:${port}/`)).text().then((text) => text === 'hello from config from web.1\n');
      },
      45_000,
      250,
    );
  });

  it('did not upload what .gitignore lists', async () => {
    const res = await cluster.cli(['run', '-a', 'convox', '--', 'ls -A; test ! -e node_modules && test ! -e .env && echo nothing-ignored']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^package\.json$/m);
    assert.match(res.stdout, /^\.gitignore$/m);
    assert.match(res.stdout, /^nothing-ignored$/m);
  });

  it('refuses a Dockerfile without CMD for a service without a command, in doctor and in deploy', async () => {
    const bad = path.join(cluster.dir, 'no-cmd');
    fs.cpSync(path.join(REPO, 'examples', 'convox'), bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'Dockerfile'), 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\n');
    const expected =
      /docker-compose\.yml line 6: service `web` has no `command`, and Dockerfile has no CMD or ENTRYPOINT \(the image starts at Dockerfile line 1, `FROM node:20-alpine`\): add `CMD \["program", "arg"\]` to Dockerfile or a `command` to the service/;
    const doctor = await cluster.cli(['doctor', bad]);
    assert.equal(doctor.code, 1);
    assert.match(doctor.stdout, new RegExp(`^✗ ${expected.source}$`, 'm'));
    const deploy = await cluster.cli(['deploy', bad, '-a', 'convox']);
    assert.equal(deploy.code, 1);
    assert.match(deploy.stderr, new RegExp(`^error: ${expected.source}\\n$`));
    const releases = await cluster.cliJson<unknown[] | { releases: unknown[] }>(['releases', '-a', 'convox']);
    assert.equal((Array.isArray(releases) ? releases : releases.releases).length, 2, 'no release was made');
  });
});
