/**
 * Heartbeats over one stream (agent/link/heartbeat-stream.ts, the control plane's `Heartbeats`)
 * against a real etcd and real control planes: replies matched by number, a lease kept alive
 * and one learned gone, a replica that dies fails the heartbeat as a call would (so the link
 * fails over) and the next one opens a stream on the next replica, and a control plane without
 * the method gets `Heartbeat` calls.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { HeartbeatStream } from '../../agent/link/heartbeat-stream';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { isReplicaFailure, ServerSet } from '../../lib/failover';
import { agentProto, apiProto } from '../../proto/load';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { HeartbeatReply__Output } from '../../proto/gen/cluster/agent/HeartbeatReply';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');
const agentClient = (address: string): AgentApiClient => new (agentProto().AgentApi)(address, grpc.credentials.createInsecure());

exitWhenDone();

describe('heartbeats over one stream', { timeout: 90_000 }, () => {
  const etcd = useEtcd();

  const start = (prefix: string) =>
    ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix, agentTtlSeconds: 2, logger });

  it('answers each request with its number: alive for a live lease, not for another', async () => {
    const plane = await start(uniquePrefix());
    const client = agentClient(plane.address);
    try {
      const reg = await callUnary(client, 'Register', { agent_id: 'beater', address: '127.0.0.9:1', datacenter: 'dc-1', capacity: 5 });
      const call = client.Heartbeats();
      const replies: HeartbeatReply__Output[] = [];
      call.on('data', (reply: HeartbeatReply__Output) => replies.push(reply));
      call.write({ agent_id: 'beater', lease_id: reg.lease_id, beat: 7 });
      call.write({ agent_id: 'beater', lease_id: '12345', beat: 8 });
      call.write({ agent_id: 'beater', lease_id: reg.lease_id, beat: 9 });
      await waitFor('three replies', () => replies.length === 3);
      assert.deepEqual(
        replies.map((r) => [r.beat, r.alive]).sort((a, b) => Number(a[0]) - Number(b[0])),
        [[7, true], [8, false], [9, true]],
      );
      // A malformed request ends the stream with the problem named, as the call would.
      const failed = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
      call.write({ agent_id: 'not a valid id!', lease_id: reg.lease_id, beat: 10 });
      const err = await failed;
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /agent/);
    } finally {
      client.close();
      await plane.close();
    }
  });

  it('keeps a lease past its TTL, then learns that it is gone', async () => {
    const plane = await start(uniquePrefix());
    const client = agentClient(plane.address);
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    const beats = new HeartbeatStream(client);
    try {
      const reg = await callUnary(client, 'Register', { agent_id: 'steady', address: '127.0.0.9:1', datacenter: 'dc-1', capacity: 5 });
      const request = { agent_id: 'steady', lease_id: reg.lease_id };
      const until = Date.now() + 3_500; // the TTL is 2 s
      while (Date.now() < until) {
        assert.equal((await beats.beat(plane.address, request, 2_000)).alive, true);
        await new Promise((resolve) => setTimeout(resolve, 500)); // the heartbeat interval
      }
      assert.deepEqual((await callUnary(api, 'ListAgents', {})).agents.map((a) => a.id), ['steady']);
      await waitFor('the agent to be down without heartbeats', async () => (await callUnary(api, 'ListAgents', {})).agents.every((a) => a.state === 'down'), 6_000);
      assert.equal((await beats.beat(plane.address, request, 2_000)).alive, false, 'a late heartbeat learns that its lease is gone');
    } finally {
      beats.close();
      client.close();
      api.close();
      await plane.close();
    }
  });

  it('a replica that dies fails the heartbeat as a call would; the next one goes to the next replica', async () => {
    const prefix = uniquePrefix();
    const first = await start(prefix);
    const second = await start(prefix);
    const servers = new ServerSet<AgentApiClient>([first.address, second.address], agentClient);
    const beats = new HeartbeatStream(servers.proxy);
    try {
      const reg = await callUnary(servers.proxy, 'Register', { agent_id: 'mover', address: '127.0.0.9:1', datacenter: 'dc-1', capacity: 5 });
      const request = { agent_id: 'mover', lease_id: reg.lease_id };
      assert.equal((await beats.beat(servers.currentAddress, request, 1_000)).alive, true);
      await first.close();
      const err = await beats.beat(servers.currentAddress, request, 1_000).then(
        () => assert.fail('a heartbeat to a closed replica succeeded'),
        (e: unknown) => e,
      );
      assert.ok(isReplicaFailure(err), `a replica failure (UNAVAILABLE or DEADLINE_EXCEEDED), not ${String(err)}`);
      assert.equal(servers.switchAway(), second.address);
      assert.equal((await beats.beat(servers.currentAddress, request, 1_000)).alive, true, 'the other replica renews the same lease');
    } finally {
      beats.close();
      servers.close();
      await first.close().catch(() => undefined);
      await second.close();
    }
  });

  it('sends Heartbeat calls to a control plane that does not know the stream', async () => {
    // An older control plane: the agent service with Heartbeat alone (grpc-js answers the rest UNIMPLEMENTED).
    let calls = 0;
    const server = new grpc.Server();
    server.addService(agentProto().AgentApi.service, {
      Heartbeat: (call: grpc.ServerUnaryCall<{ lease_id: string }, unknown>, callback: grpc.sendUnaryData<{ alive: boolean }>) => {
        calls++;
        callback(null, { alive: call.request.lease_id === 'good' });
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const address = `127.0.0.1:${port}`;
    const client = agentClient(address);
    const beats = new HeartbeatStream(client);
    try {
      assert.equal((await beats.beat(address, { agent_id: 'old', lease_id: 'good' }, 2_000)).alive, true);
      assert.equal((await beats.beat(address, { agent_id: 'old', lease_id: 'bad' }, 2_000)).alive, false);
      assert.equal(calls, 2, 'each heartbeat was a Heartbeat call');
    } finally {
      beats.close();
      client.close();
      server.forceShutdown();
    }
  });
});
