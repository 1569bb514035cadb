/**
 * Replicas and advertised addresses on a real network (namespace hosts, mutual TLS): a
 * control plane listening on 0.0.0.0 advertises its interface address; an agent listening
 * on 0.0.0.0 is recorded at the address it reaches the control plane from (no host name);
 * the agent, joined with the replica list the token command prints, keeps its lease and
 * its processes when its replica is killed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, pidsMatching, type CliResult, type PsInstance } from '../helpers/test-cluster';
import { netnsUnavailable, TestNetwork } from '../helpers/netns';
import { waitFor } from '../helpers/wait-for';

const skip = netnsUnavailable();
const AGENT_TTL_S = 2;
const LOOP = `trap 'exit 0' TERM
while true; do echo "$CLUSTER_INSTANCE up"; sleep 1 & wait $!; done
`;

describe('replicas and advertised addresses across hosts', { skip, timeout: 240_000 }, () => {
  let net: TestNetwork;
  let dir: string;
  let cp1: string;
  let cp2: string;
  const daemons = new Map<string, ChildProcess>();
  let marker: string;

  const home = () => path.join(dir, 'home');

  function cli(args: string[], server: string, host = 'cp2'): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = net.spawn(host, process.execPath, [CLI, ...args], {
        env: { ...process.env, CLUSTER_SERVER: server, CLUSTER_HOME: home(), NO_COLOR: '1' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 99, stdout, stderr });
      });
    });
  }

  function daemon(name: string, host: string, command: string, args: string[]): ChildProcess {
    const fd = fs.openSync(path.join(dir, `${name}.log`), 'a');
    const child = net.spawn(host, command, args, {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, CLUSTER_HOME: home(), CLUSTER_LOG_LEVEL: 'debug' },
    });
    fs.closeSync(fd);
    daemons.set(name, child);
    return child;
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-replicas-'));
    // A space of its own, so the suite can run it next to multi-host.test.ts (scripts/test.sh).
    net = TestNetwork.create(['cp1', 'cp2', 'a1'], { prefix: 'clr-', subnet: '10.213.8' });
    cp1 = `${net.host('cp1').address}:7600`;
    cp2 = `${net.host('cp2').address}:7600`;
    const etcd = `http://${net.host('cp1').address}:2379`;
    daemon('etcd', 'cp1', 'etcd', [
      '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', etcd, '--advertise-client-urls', etcd,
      '--listen-peer-urls', 'http://127.0.0.1:2380', '--snapshot-count', '10000', '--logger=zap', '--log-level=warn',
    ]);
    // Both replicas keep slugs in one folder: slugs are not replicated between replicas yet.
    // cp1 listens on every address of its host and advertises none: it must pick its interface address.
    daemon('cp1', 'cp1', process.execPath, [CLI, 'control-plane', 'start', '--etcd', etcd, '--listen', '0.0.0.0:7600',
      '--data-dir', path.join(dir, 'cp'), '--agent-ttl', String(AGENT_TTL_S)]);
    await waitFor('cp1 to answer over TLS', async () => (await cli(['apps'], cp1, 'cp1')).code === 0, 30_000, 200);
    daemon('cp2', 'cp2', process.execPath, [CLI, 'control-plane', 'start', '--etcd', etcd, '--listen', cp2,
      '--data-dir', path.join(dir, 'cp'), '--agent-ttl', String(AGENT_TTL_S)]);
    await waitFor('cp2 to answer over TLS', async () => (await cli(['apps'], cp2)).code === 0, 30_000, 200);
  });

  after(async () => {
    for (const d of daemons.values()) d.kill('SIGKILL');
    await Promise.all([...daemons.values()].filter((d) => d.exitCode === null && d.signalCode === null).map((d) => new Promise((r) => d.once('exit', r))));
    await waitFor('app processes to end', () => pidsMatching(dir).length === 0, 15_000).catch(() => {
      for (const pid of pidsMatching(dir)) process.kill(pid, 'SIGKILL');
    });
    net?.destroy();
    if (!process.env.KEEP_TEST_DIRS) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('joins with the replica list the token command prints, and is recorded at its real address', async () => {
    const res = await cli(['agents:token', '--json'], cp2);
    assert.equal(res.code, 0, res.stderr);
    const token = JSON.parse(res.stdout) as { token: string; caHash: string; command: string };
    const servers = /--server (\S+)/.exec(token.command)?.[1] ?? '';
    assert.deepEqual(servers.split(',').sort(), [cp1, cp2].sort(), 'both replicas at their interface addresses');
    daemon('a1', 'a1', process.execPath, [CLI, 'agent', 'join', '--server', servers, '--token', token.token, '--ca-hash', token.caHash,
      '--name', 'a1', '--data-dir', path.join(dir, 'a1'), '--listen', '0.0.0.0:7601', '--ports', '5000-5099', '--stop-grace', '3']);
    const agents = await waitFor('a1 registered', async () => {
      const list = await cli(['agents', '--json'], cp2);
      const parsed = list.code === 0 ? (JSON.parse(list.stdout) as { agents: Array<{ id: string; address: string }> }).agents : [];
      return parsed.length === 1 ? parsed : undefined;
    }, 30_000, 200);
    assert.equal(agents[0]!.address, `${net.host('a1').address}:7601`);
  });

  it('runs an app whose logs the control plane fetches from that address', async () => {
    marker = path.join(dir, 'app-marker');
    const app = path.join(dir, 'app');
    fs.mkdirSync(app, { recursive: true });
    fs.writeFileSync(path.join(app, 'Procfile'), `worker: sh loop.sh ${marker}\n`);
    fs.writeFileSync(path.join(app, 'loop.sh'), LOOP);
    for (const args of [['apps:create', 'shop'], ['deploy', app, '-a', 'shop'], ['scale', 'worker=3', '-a', 'shop', '--wait', '--timeout', '40']]) {
      const res = await cli(args, cp2);
      assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    }
    await waitFor('log lines fetched from a1', async () => /worker\.1 up/.test((await cli(['logs', '-a', 'shop', '-n', '20'], cp2)).stdout), 20_000, 300);
  });

  it('keeps the lease and every process when the replica the agent uses is killed', async () => {
    const log = fs.readFileSync(path.join(dir, 'a1.log'), 'utf8');
    const used = [...log.matchAll(/"server":"([^"]+)"[^\n]*registered with the control plane/g)].at(-1)?.[1];
    assert.ok(used === cp1 || used === cp2, `registered through ${used}`);
    const other = used === cp1 ? cp2 : cp1;
    const ps = async () => {
      const res = await cli(['ps', '-a', 'shop', '--json'], other, other === cp1 ? 'cp1' : 'cp2');
      assert.equal(res.code, 0, res.stderr);
      return (JSON.parse(res.stdout) as { instances: PsInstance[] }).instances;
    };
    const expected = new Map((await ps()).map((i) => [i.name, i.pid]));
    const pidsBefore = pidsMatching(marker).sort();
    daemons.get(used === cp1 ? 'cp1' : 'cp2')!.kill('SIGKILL');
    const until = Date.now() + 4 * AGENT_TTL_S * 1000 + 2_000;
    let views = 0;
    while (Date.now() < until || views < 3) {
      views += 1;
      const now = await ps();
      assert.ok(now.every((i) => i.state === 'up'), now.map((i) => `${i.name}:${i.state}:${i.reason}`).join(' '));
      assert.deepEqual(new Map(now.map((i) => [i.name, i.pid])), expected);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual(pidsMatching(marker).sort(), pidsBefore);
    assert.ok(!fs.readFileSync(path.join(dir, 'a1.log'), 'utf8').includes('lease lost'));
  });
});
