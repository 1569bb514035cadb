/**
 * Agent liveness and leadership against a real etcd, with control planes in-process and a
 * bare gRPC client playing the agent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../control-plane/control-plane';
import { createLogger } from '../../lib/log';
import { callUnary } from '../../lib/grpc-call';
import { agentProto, apiProto } from '../../proto/load';
import { uniquePrefix, exitWhenDone, useEtcd } from '../helpers/etcd';
import { waitFor } from '../helpers/wait-for';

const logger = createLogger('test', 'silent');

exitWhenDone();

describe('liveness and leadership', { timeout: 60_000 }, () => {
  const etcd = useEtcd();

  const start = (prefix: string) =>
    ControlPlane.start({ etcd: [etcd.url], listen: '127.0.0.1:0', dataDir: etcd.dataDir, prefix, agentTtlSeconds: 2, logger });

  it('lists an agent whose lease expires when it stops heartbeating as down, as it last registered', async () => {
    const plane = await start(uniquePrefix());
    const agentClient = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      const reg = await callUnary(agentClient, 'Register', { agent_id: 'lonely', address: '127.0.0.9:1', datacenter: 'dc-9', capacity: 5 });
      assert.ok(reg.lease_id);
      const listed = await callUnary(api, 'ListAgents', {});
      assert.deepEqual(listed.agents.map((a) => [a.id, a.datacenter, a.capacity]), [['lonely', 'dc-9', 5]]);
      // Heartbeats keep it alive past its TTL …
      for (let i = 0; i < 4; i++) {
        assert.equal((await callUnary(agentClient, 'Heartbeat', { agent_id: 'lonely', lease_id: reg.lease_id })).alive, true);
        await new Promise((resolve) => setTimeout(resolve, 700));
      }
      assert.deepEqual((await callUnary(api, 'ListAgents', {})).agents.map((a) => a.state), ['ready']);
      // … and without them it is down within about the TTL: still listed, with what it registered.
      const silentSince = Date.now();
      const down = await waitFor('the agent to be down', async () => {
        const { agents } = await callUnary(api, 'ListAgents', {});
        return agents.length === 1 && agents[0]!.state === 'down' ? agents[0] : undefined;
      }, 6_000);
      assert.deepEqual([down.id, down.address, down.datacenter, down.capacity], ['lonely', '127.0.0.9:1', 'dc-9', 5]);
      assert.ok(down.heartbeat_age_ms >= 0, 'when it was last heard');
      assert.ok(Date.now() - silentSince < 5_000);
      const late = await callUnary(agentClient, 'Heartbeat', { agent_id: 'lonely', lease_id: reg.lease_id });
      assert.equal(late.alive, false, 'a late heartbeat learns that its lease is gone');
    } finally {
      agentClient.close();
      api.close();
      await plane.close();
    }
  });

  it("renews no lease but the agent's own registration's: another agent's stays free to expire", async () => {
    const plane = await start(uniquePrefix());
    const agentClient = new (agentProto().AgentApi)(plane.address, grpc.credentials.createInsecure());
    const api = new (apiProto().ClusterApi)(plane.address, grpc.credentials.createInsecure());
    try {
      const mine = await callUnary(agentClient, 'Register', { agent_id: 'honest', address: '127.0.0.9:1', datacenter: 'dc-9', capacity: 5 });
      const theirs = await callUnary(agentClient, 'Register', { agent_id: 'victim', address: '127.0.0.9:2', datacenter: 'dc-9', capacity: 5 });
      // `honest` heartbeats with `victim`'s lease: refused, and the lease is not renewed.
      const until = Date.now() + 6_000;
      let victimDown = false;
      while (Date.now() < until && !victimDown) {
        assert.equal((await callUnary(agentClient, 'Heartbeat', { agent_id: 'honest', lease_id: theirs.lease_id })).alive, false);
        assert.equal((await callUnary(agentClient, 'Heartbeat', { agent_id: 'honest', lease_id: mine.lease_id })).alive, true);
        const { agents } = await callUnary(api, 'ListAgents', {});
        victimDown = agents.some((a) => a.id === 'victim' && a.state === 'down');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      assert.ok(victimDown, 'the victim went down within its TTL though someone heartbeated its lease');
    } finally {
      agentClient.close();
      api.close();
      await plane.close();
    }
  });

  it('has exactly one leader, and another replica takes over when it stops', async () => {
    const prefix = uniquePrefix();
    const first = await start(prefix);
    const second = await start(prefix);
    try {
      await waitFor('a leader', () => first.isLeader || second.isLeader);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(Number(first.isLeader) + Number(second.isLeader), 1, 'exactly one leader');
      const [leader, follower] = first.isLeader ? [first, second] : [second, first];
      await leader.close();
      await waitFor('the follower to take over', () => follower.isLeader, 10_000);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
