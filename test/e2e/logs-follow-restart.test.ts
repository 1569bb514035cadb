/**
 * `cluster logs -f` while hosts come and go, with the real CLI, control plane, agents and
 * processes: an instance placed after the follow began shows its first lines, and a follower
 * keeps an instance across its agent's restart (SIGTERM and a new agent: the hand-over), with
 * what the instance printed while no agent ran, every line once.
 *
 * The lease TTL is 10 s here so that the hand-over window (docs/agent-handover.md) outlasts
 * a new agent's start on a loaded machine: the instance must survive for its lines to exist.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

// Prints its first line, then echoes whatever the test drops into its trigger file.
const TALKER = `trap 'exit 0' TERM
echo "$CLUSTER_INSTANCE first line"
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ]; then cat "$f"; rm -f "$f"; fi
  sleep 0.05
done
`;

interface JsonLine { app: string; instance: string; host: string; stream: string; line: string }

describe('cluster logs -f while hosts come and go', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;
  let follower: ChildProcessWithoutNullStreams;
  let seen = '';
  let stderr = '';

  // Written aside and renamed: the talker must never find the file created but still empty.
  const say = (instance: string, text: string) => {
    const file = path.join(triggers, `${instance}.say`);
    fs.writeFileSync(`${file}.tmp`, `${text}\n`);
    fs.renameSync(`${file}.tmp`, file);
  };
  const said = () => seen.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine).filter((l) => l.stream === 'stdout');
  const shown = (text: string) => said().some((l) => l.line === text);
  /** Says numbered `label` lines to `instance` until the follower shows one (each text is said once). */
  const sayUntilShown = (instance: string, label: string) => {
    let k = 0;
    return waitFor(`the follower to show a "${label}" line`, () => {
      if (said().some((l) => l.line.startsWith(`${label} `))) return true;
      if (!fs.existsSync(path.join(triggers, `${instance}.say`))) say(instance, `${label} ${++k}`);
      return false;
    }, 30_000, 200);
  };

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }], agentTtl: 10 });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const dir = cluster.appDir('chat', { Procfile: `talker: sh talker.sh ${triggers}\n`, 'talker.sh': TALKER });
    await cluster.deployApp('chat', dir);
    follower = spawn(process.execPath, [CLI, 'logs', '-a', 'chat', '-n', '0', '--tail', '--json'], {
      env: { ...process.env, CLUSTER_SERVER: cluster.server, CLUSTER_HOME: path.join(cluster.dir, 'home') },
    });
    follower.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    follower.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  });

  after(async () => {
    follower?.kill('SIGINT');
    await cluster?.stop();
  });

  it('shows the first lines of an instance placed after the follow began', async () => {
    // No host kept lines of the app when the follow began: the agent joins when it starts one.
    await cluster.ok(['scale', 'talker=1', '-a', 'chat', '--wait']);
    await waitFor('the instance\'s first line', () => shown('talker.1 first line'), 30_000);
  });

  it('keeps an instance across its agent restart: what it printed meanwhile, every line once', async () => {
    await sayUntilShown('talker.1', 'before');
    const [before] = await cluster.ps('chat');
    await cluster.agents.get('host-a')!.kill('SIGTERM');
    // The instance runs on while no agent reads it; the new agent takes over its output.
    say('talker.1', 'while its agent was down');
    await waitFor('the instance to read it', () => !fs.existsSync(path.join(triggers, 'talker.1.say')), 10_000, 50);
    cluster.startAgent({ id: 'host-a' });
    await waitFor('the follower to show what it printed meanwhile', () => shown('while its agent was down'), 30_000);
    await sayUntilShown('talker.1', 'after');

    const [after] = await cluster.ps('chat');
    assert.equal(after!.pid, before!.pid, 'the new agent took the instance over (the same process)');
    assert.match(stderr, /host host-a (stopped sending lines|.*cannot be reached)/);
    assert.match(stderr, /host host-a answers again/);
    assert.equal(stderr.match(/host host-a (stopped sending lines|.*cannot be reached)/g)!.length, 1, `one warning for one loss:\n${stderr}`);
    const lines = said().map((l) => l.line);
    assert.equal(new Set(lines).size, lines.length, `no line twice: ${lines.join(', ')}`);
    // Its first line, "before" lines (said until one showed), the line printed meanwhile, then "after" ones.
    const kinds = lines.map((l) => l.split(' ')[0]).filter((k, i, all) => k !== all[i - 1]);
    assert.deepEqual(kinds, ['talker.1', 'before', 'while', 'after'], lines.join(', '));
  });
});
