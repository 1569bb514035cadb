/**
 * The replica set seen by clients, with control planes in-process: ListReplicas on both
 * APIs, the address recorded for an agent that gives none, and the start-up check that
 * refuses replicas of another cluster (another CA with TLS, another cluster id without).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { fetchCA } from '../../lib/join';
import { agentProto, apiProto } from '../../proto/load';
import { checkReplicas, ForeignClusterError } from '../../agent/link/replica-check';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('replica set', { timeout: 60_000 }, () => {
  const etcd = useEtcd();
  // TLS control planes write the local operator's credential here.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-home-'));
  before(() => (process.env.CLUSTER_HOME = home));
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  const start = (prefix: string, listen = '127.0.0.1:0', tls?: boolean) =>
    ControlPlane.start({ etcd: [etcd.url], listen, dataDir: etcd.dataDir, prefix, agentTtlSeconds: 2, logger, tls });

  it('lists every replica on both APIs, with one cluster id', async () => {
    const prefix = uniquePrefix();
    const first = await start(prefix);
    const second = await start(prefix);
    const api = new (apiProto().ClusterApi)(first.address, grpc.credentials.createInsecure());
    const agents = new (agentProto().AgentApi)(second.address, grpc.credentials.createInsecure());
    try {
      assert.equal(first.advertised, first.address);
      const expected = [first.advertised, second.advertised].sort();
      const viaApi = await waitFor('both replicas listed', async () => {
        const r = await callUnary(api, 'ListReplicas', {});
        return r.replicas.length === 2 ? r : undefined;
      });
      const viaAgents = await callUnary(agents, 'ListReplicas', {});
      assert.deepEqual(viaApi.replicas.map((r) => r.address).sort(), expected);
      assert.deepEqual(viaAgents.replicas.map((r) => r.address).sort(), expected);
      assert.ok(viaApi.cluster_id && viaApi.cluster_id === viaAgents.cluster_id);
      assert.equal(viaApi.self_id, first.replicas.selfId);
      await second.close();
      await waitFor('a closed replica leaves at once', async () => (await callUnary(api, 'ListReplicas', {})).replicas.length === 1, 3_000);
    } finally {
      api.close();
      agents.close();
      await first.close();
      await second.close();
    }
  });

  it('records the address an agent calls from when it gives none (IPv4 and IPv6)', async () => {
    const prefix = uniquePrefix();
    const v4 = await start(prefix);
    const v6 = await start(prefix, '[::1]:0');
    const c4 = new (agentProto().AgentApi)(v4.address, grpc.credentials.createInsecure());
    const c6 = new (agentProto().AgentApi)(v6.address, grpc.credentials.createInsecure());
    try {
      const r4 = await callUnary(c4, 'Register', { agent_id: 'v4', address: '', listen_port: 7777, datacenter: 'dc', capacity: 1 });
      assert.equal(r4.address, '127.0.0.1:7777');
      const r6 = await callUnary(c6, 'Register', { agent_id: 'v6', address: '', listen_port: 7778, datacenter: 'dc', capacity: 1 });
      assert.equal(r6.address, '[::1]:7778');
      const given = await callUnary(c4, 'Register', { agent_id: 'given', address: 'web-1.internal:7601', listen_port: 7779, datacenter: 'dc', capacity: 1 });
      assert.equal(given.address, 'web-1.internal:7601', '--advertise wins');
      await assert.rejects(callUnary(c4, 'Register', { agent_id: 'none', address: '', listen_port: 0, datacenter: 'dc', capacity: 1 }), /listen_port/);
    } finally {
      c4.close();
      c6.close();
      await v4.close();
      await v6.close();
    }
  });

  it('refuses replicas of two clusters: by cluster id in plaintext', async () => {
    const mine = await start(uniquePrefix());
    const theirs = await start(uniquePrefix());
    try {
      assert.ok(await checkReplicas([mine.address], undefined, logger));
      // However long the second takes to answer (a loaded machine), it is waited for here.
      await assert.rejects(checkReplicas([mine.address, theirs.address], undefined, logger, 60_000), (err: Error) =>
        err instanceof ForeignClusterError && err.message.includes(`replica ${theirs.address} belongs to another cluster`));
      // An unreachable replica is not held against the start.
      assert.ok(await checkReplicas([mine.address, '127.0.0.1:1'], undefined, logger));
    } finally {
      await mine.close();
      await theirs.close();
    }
  });

  it('does not wait out a replica that never answers once another has', async () => {
    const mine = await start(uniquePrefix());
    // Accepts connections and never says a word: a replica host that hangs.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const started = performance.now();
      const clusterId = await checkReplicas([silentAddress, mine.address], undefined, logger);
      const tookMs = performance.now() - started;
      assert.ok(clusterId, 'the cluster id of the replica that answered');
      // It used to wait the whole 3 s for the silent one: a restarted agent's lease is 4 s.
      assert.ok(tookMs < 2_500, `checked in ${Math.round(tookMs)} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await mine.close();
    }
  });

  it('refuses replicas of two clusters: by CA with TLS', async () => {
    const mine = await start(uniquePrefix(), '127.0.0.1:0', true);
    const theirs = await start(uniquePrefix(), '127.0.0.1:0', true);
    try {
      // Only the CA matters to this check (the agent's own certificate is not needed for it).
      const material = { caPem: await fetchCA(mine.address), certPem: '', keyPem: '' };
      await assert.rejects(checkReplicas([mine.address, theirs.address], material, logger, 60_000), (err: Error) =>
        err instanceof ForeignClusterError && new RegExp(`replica ${theirs.address} belongs to another cluster \\(CA sha256:`).test(err.message));
    } finally {
      await mine.close();
      await theirs.close();
    }
  });
});
