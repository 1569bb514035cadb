/**
 * `cluster logs -f --server A,B` goes on through B when A is killed with SIGKILL: the lines the
 * instances printed meanwhile come once each, then the live ones, from every host, and the
 * follower says on stderr where it follows on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

// Echoes whatever the test drops into its trigger file.
const TALKER = `trap 'exit 0' TERM
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ]; then cat "$f"; rm -f "$f"; fi
  sleep 0.05
done
`;

interface JsonLine { instance: string; host: string; stream: string; line: string }

describe('cluster logs -f across a control-plane failover', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;
  let triggers: string;
  let follower: ChildProcessWithoutNullStreams;
  let seen = '';
  let stderr = '';

  const say = (instance: string, text: string) => {
    const file = path.join(triggers, `${instance}.say`);
    fs.writeFileSync(`${file}.tmp`, `${text}\n`);
    fs.renameSync(`${file}.tmp`, file);
  };
  const said = () => seen.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine).filter((l) => l.stream === 'stdout');
  const read = (instance: string) => !fs.existsSync(path.join(triggers, `${instance}.say`));

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2 });
    [a, b] = cluster.servers as [string, string];
    cluster.startAgent({ id: 'host-1', server: `${a},${b}` });
    cluster.startAgent({ id: 'host-2', server: `${a},${b}` });
    await cluster.waitForAgents(2);
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    await cluster.deployApp('chat', cluster.appDir('chat', { Procfile: `talker: sh talker.sh ${triggers}\n`, 'talker.sh': TALKER }));
    await cluster.ok(['scale', 'talker=2', '-a', 'chat', '--wait']);
    const hosts = new Set((await cluster.ps('chat')).map((i) => i.host));
    assert.equal(hosts.size, 2, 'one instance on each host');
    follower = spawn(process.execPath, [CLI, 'logs', '-a', 'chat', '-n', '0', '--tail', '--json', '--server', `${a},${b}`], {
      env: { ...process.env, CLUSTER_HOME: path.join(cluster.dir, 'home') },
    });
    follower.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    follower.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  });

  after(async () => {
    follower?.kill('SIGINT');
    await cluster?.stop();
  });

  /** Says numbered `label` lines to `instance` until the follower shows one (each text is said once). */
  const sayUntilShown = async (instance: string, label: string) => {
    let k = 0;
    await waitFor(`the follower to show a "${label}" line of ${instance}`, () => {
      if (said().some((l) => l.instance === instance && l.line.startsWith(`${label} `))) return true;
      if (read(instance)) say(instance, `${label} ${++k}`);
      return false;
    }, 30_000, 200);
  };

  it('goes on through the other replica with what was printed meanwhile, every line once', async () => {
    for (const instance of ['talker.1', 'talker.2']) await sayUntilShown(instance, 'before');
    await cluster.controlPlanes[0]!.kill('SIGKILL');
    // Printed while the follower has no stream (its replica is gone): they must come through B.
    for (const instance of ['talker.1', 'talker.2']) say(instance, 'meanwhile');
    await waitFor('the lines printed meanwhile', () => said().filter((l) => l.line === 'meanwhile').length === 2, 60_000);
    for (const instance of ['talker.1', 'talker.2']) await sayUntilShown(instance, 'after');

    assert.equal(follower.exitCode, null, `the follower is still running:\n${stderr}`);
    const quoted = (s: string) => s.replace(/\./g, '\\.');
    assert.match(stderr, new RegExp(`warning: the control plane at ${quoted(a)} stopped streaming \\(.*\\); following on through ${quoted(b)}`));
    for (const instance of ['talker.1', 'talker.2']) {
      const lines = said().filter((l) => l.instance === instance).map((l) => l.line);
      assert.equal(new Set(lines).size, lines.length, `no line of ${instance} twice: ${lines.join(', ')}`);
      // Its "before" lines (one or more: said until one showed), then the rest in order.
      const rest = lines.filter((l) => !l.startsWith('before '));
      assert.ok(lines.slice(0, lines.length - rest.length).every((l) => l.startsWith('before ')), lines.join(', '));
      assert.equal(rest[0], 'meanwhile', lines.join(', '));
      assert.ok(rest.slice(1).length >= 1 && rest.slice(1).every((l) => l.startsWith('after ')), lines.join(', '));
    }
  });
});
