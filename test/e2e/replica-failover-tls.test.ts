/**
 * Replica failover over mutual TLS: agents joined with a token through a list of two
 * replicas survive the death of the one they use; an agent given a replica of another
 * cluster (another CA) refuses to start.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '../../lib/free-port';
import { loadCredentials } from '../../agent/tls/agent-credentials';
import { CONTROL_PLANE_NAME } from '../../lib/pki';
import { channelCredentials, StaticCertificateProvider, targetName } from '../../lib/tls';
import { agentProto } from '../../proto/load';
import type { HeartbeatReply__Output } from '../../proto/gen/cluster/agent/HeartbeatReply';
import { pidsMatching, TestCluster, type PsInstance } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

const LOOP = `trap 'exit 0' TERM
while true; do sleep 1 & wait $!; done
`;

describe('control-plane replica failover over TLS', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let a: string;
  let b: string;
  let list: string;
  let marker: string;
  let token: { token: string; caHash: string };

  before(async () => {
    cluster = await TestCluster.start({ replicas: 2, controlPlaneArgs: ['--tls'] });
    [a, b] = cluster.servers as [string, string];
    list = `${a},${b}`;
    token = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '3']);
    for (const id of ['tls-1', 'tls-2']) {
      cluster.startAgent({ id, server: list, command: ['agent', 'join', '--token', token.token, '--ca-hash', token.caHash] });
    }
    await cluster.waitForAgents(2);
    marker = `tls-failover-${process.pid}`;
    await cluster.deployApp('shop', cluster.appDir(marker, { 'Procfile': `worker: sh loop.sh ${marker}\n`, 'loop.sh': LOOP }));
    await cluster.ok(['scale', 'worker=4', '-a', 'shop']);
    await cluster.waitForPs('shop', '4 workers up', (ps) => ps.length === 4 && ps.every((i) => i.state === 'up' && i.pid));
  });

  after(async () => {
    await cluster?.stop();
  });

  it('prints every replica in the join command', async () => {
    const { command } = await cluster.cliJson<{ command: string }>(['agents:token']);
    const listed = /--server (\S+)/.exec(command)?.[1]?.split(',').sort();
    assert.deepEqual(listed, [a, b].sort());
  });

  it("an agent's certificate heartbeats for that agent only, on the heartbeat stream as in a call", async () => {
    const material = loadCredentials(cluster.agentDir('tls-1'));
    assert.ok(material, 'tls-1 keeps its credentials in its data dir');
    const client = new (agentProto().AgentApi)(b, channelCredentials(new StaticCertificateProvider(material)), targetName(CONTROL_PLANE_NAME));
    try {
      const call = client.Heartbeats();
      const replies: HeartbeatReply__Output[] = [];
      call.on('data', (reply: HeartbeatReply__Output) => replies.push(reply));
      const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      // Its own id with a lease that is not its own: answered (not alive), the stream goes on.
      call.write({ agent_id: 'tls-1', lease_id: '1', beat: 1 });
      await waitFor('the answer to its own heartbeat', () => replies.length === 1);
      // Another agent's id: refused, and the stream ends with the reason.
      call.write({ agent_id: 'tls-2', lease_id: '1', beat: 2 });
      const err = await ended;
      assert.equal(err.code, grpc.status.PERMISSION_DENIED);
      assert.match(err.details, /agent tls-1 cannot act for agent tls-2/);
      assert.deepEqual(replies.map((r) => [r.beat, r.alive]), [[1, false]]);
    } finally {
      client.close();
    }
  });

  it('keeps every agent and process when the replica they use is killed', async () => {
    const expected = new Map((await cluster.ps('shop')).map((i) => [i.name, `${i.host}/${i.pid}`]));
    const pidsBefore = pidsMatching(marker).sort();
    await cluster.controlPlanes[0]!.kill('SIGKILL');
    const until = Date.now() + 4 * cluster.agentTtl * 1000 + 2_000;
    let views = 0;
    // Several looks whatever the machine's speed, spanning several lease TTLs.
    while (Date.now() < until || views < 3) {
      views += 1;
      const res = await cluster.cli(['ps', '-a', 'shop', '--json'], { server: b });
      assert.equal(res.code, 0, res.stderr);
      const ps = (JSON.parse(res.stdout) as { instances: PsInstance[] }).instances;
      assert.ok(ps.every((i) => i.state === 'up'), ps.map((i) => `${i.name}:${i.state}:${i.reason}`).join(' '));
      assert.deepEqual(new Map(ps.map((i) => [i.name, `${i.host}/${i.pid}`])), expected);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.deepEqual(pidsMatching(marker).sort(), pidsBefore);
    const viaList = await cluster.cli(['agents', '--json'], { server: list });
    assert.equal(viaList.code, 0, viaList.stderr);
    const agents = (JSON.parse(viaList.stdout) as { agents: Array<{ id: string; state: string }> }).agents;
    assert.deepEqual(agents.map((x) => `${x.id}:${x.state}`).sort(), ['tls-1:ready', 'tls-2:ready']);
  });

  it('logs in through a replica list with the first replica dead, for every replica', async () => {
    const res = await cluster.cli(['operators:token', '--json'], { server: b });
    assert.equal(res.code, 0, res.stderr);
    const operator = JSON.parse(res.stdout) as { token: string; caHash: string };
    const home = path.join(cluster.dir, 'other-operator');
    const login = await cluster.cli(['login', '--server', list, '--token', operator.token, '--ca-hash', operator.caHash, '--name', 'ops@elsewhere'], { home });
    assert.equal(login.code, 0, login.stderr);
    const saved = JSON.parse(fs.readFileSync(path.join(home, 'credentials.json'), 'utf8')) as { servers: Record<string, unknown> };
    assert.ok(saved.servers[a] && saved.servers[b], Object.keys(saved.servers).join(' '));
    const apps = await cluster.cli(['apps', '--json'], { server: list, home });
    assert.equal(apps.code, 0, apps.stderr);
    // The token again, now that this machine holds a credential: the join's own refusal, not
    // "runs without TLS" (the probe for a plain control plane must not use the credential).
    const again = await cluster.cli(['login', '--server', list, '--token', operator.token, '--ca-hash', operator.caHash], { home });
    assert.equal(again.code, 2, again.stderr);
    // Named as a login token, with the command that makes one (not "join token … agents:token").
    assert.match(again.stderr, /the login token has been used up: make a new one with `cluster operators:token`/);
  });

  it('a command ends once it has answered, also when it failed over from a replica that never answers', async () => {
    // A frozen replica (SIGSTOP) as the CLI sees it: the kernel accepts the connection, TLS never answers.
    const frozen = net.createServer(() => undefined);
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    try {
      const res = await cluster.cli(['apps', '--json'], { server: `127.0.0.1:${(frozen.address() as net.AddressInfo).port},${b}`, timeoutMs: 30_000 });
      assert.equal(res.code, 0, `exit ${res.code} after ${Math.round(res.ms)} ms (killed by the timeout: still running): ${res.stderr}`);
      assert.ok(Array.isArray((JSON.parse(res.stdout) as { apps: unknown[] }).apps), res.stdout);
    } finally {
      frozen.close();
    }
  });

  it('refuses to start an agent given a replica of another cluster', async () => {
    // Another cluster: its own key prefix in the same etcd, so its own CA.
    const foreign = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(foreign, ['--prefix', '/other-cluster/']);
    const dataDir = path.join(cluster.dir, 'tls-3');
    const joined = await cluster.cli(['agent', 'join', '--server', b, '--token', token.token, '--ca-hash', token.caHash,
      '--name', 'tls-3', '--data-dir', dataDir, '--no-start']);
    assert.equal(joined.code, 0, joined.stderr);
    const res = await cluster.cli(['agent', 'start', '--server', `${b},${foreign}`, '--data-dir', dataDir, '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    assert.equal(res.code, 1, res.stderr);
    assert.match(res.stderr, new RegExp(`replica ${foreign} belongs to another cluster \\(CA sha256:`));
    const listed = await cluster.cli(['agents', '--json'], { server: b });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(!(JSON.parse(listed.stdout) as { agents: Array<{ id: string }> }).agents.some((x) => x.id === 'tls-3'), 'tls-3 never registered');
  });
});
