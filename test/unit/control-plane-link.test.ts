/**
 * agent/link/control-plane-link.ts against a fake AgentApi: a lease lost (told by a heartbeat or
 * by a status report, leaseLost()) registers again once and leaves one heartbeat loop. An earlier
 * version started a second loop on each loss while the first went on: heartbeats doubled and two
 * registrations could run at once. An answer about an earlier lease does not drop the current one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { agentProto } from '../../proto/load';
import { ControlPlaneLink } from '../../agent/link/control-plane-link';
import { createLogger } from '../../lib/log';
import { waitFor } from '../helpers/wait-for';

const HEARTBEAT_MS = 100;

interface Beat { lease_id: string; beat: number }

/** A fake control plane: leases L1, L2 …; `killLease()` makes the next heartbeat learn it is gone. */
async function fakeControlPlane() {
  const stats = { registers: 0, registering: 0, maxRegistering: 0, beats: [] as number[], current: '', leases: 0, kill: false, frozen: false };
  const server = new grpc.Server();
  server.addService(agentProto().AgentApi.service, {
    Register: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      stats.registers += 1;
      stats.registering += 1;
      stats.maxRegistering = Math.max(stats.maxRegistering, stats.registering);
      // Slow enough that a second loop's registration would overlap this one.
      setTimeout(() => {
        stats.registering -= 1;
        stats.current = `L${++stats.leases}`;
        cb(null, { lease_id: stats.current, ttl_seconds: 4, heartbeat_ms: HEARTBEAT_MS, address: '127.0.0.1:1' });
      }, 150);
    },
    Heartbeat: (call: grpc.ServerUnaryCall<Beat, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { alive: call.request.lease_id === stats.current }),
    Heartbeats: (call: grpc.ServerDuplexStream<Beat, unknown>) => {
      call.on('data', (req: Beat) => {
        // Frozen: the replica (or the network to it) answers nothing.
        if (stats.frozen) return;
        stats.beats.push(Date.now());
        if (stats.kill) {
          stats.kill = false;
          stats.current = '';
        }
        call.write({ alive: req.lease_id === stats.current, beat: req.beat });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    ListReplicas: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { replicas: [], cluster_id: '' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { stats, address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

describe('control-plane link: lease lost', { timeout: 60_000 }, () => {
  it('keeps one heartbeat loop and one registration at a time after repeated lease losses', async () => {
    const plane = await fakeControlPlane();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'link-'));
    const link = new ControlPlaneLink(
      plane.address,
      { id: 'a1', address: '127.0.0.1:1', datacenter: 'dc', labels: {}, capacity: 1, version: 'x' },
      dataDir,
      () => [],
      createLogger('test', 'silent'),
    );
    try {
      link.start();
      await waitFor('the first registration', () => link.state === 'registered');
      for (let loss = 1; loss <= 4; loss++) {
        // Odd losses come from a heartbeat (inside the running tick), even ones from a status report.
        if (loss % 2 === 1) plane.stats.kill = true;
        else link.leaseLost(link.leaseId!);
        await waitFor(`registration ${loss + 1}`, () => plane.stats.registers === loss + 1 && link.state === 'registered' && link.leaseId === plane.stats.current);
      }
      const from = plane.stats.beats.length;
      await waitFor('20 more heartbeats', () => plane.stats.beats.length >= from + 21, 10_000);
      const beats = plane.stats.beats.slice(from, from + 21);
      const elapsed = beats[20]! - beats[0]!;
      // One loop: 20 gaps of a heartbeat interval each (timers fire late, never early); two loops or more: half that.
      assert.ok(elapsed >= 20 * HEARTBEAT_MS * 0.9, `20 heartbeat gaps took ${elapsed} ms, less than 20 × ${HEARTBEAT_MS} ms: more than one heartbeat loop`);
      assert.equal(plane.stats.registers, 5, 'one registration per lease lost');
      assert.equal(plane.stats.maxRegistering, 1, 'never two registrations at once');
      // A late answer about an earlier lease (a report sent before the last registration) keeps the current one.
      const current = link.leaseId;
      link.leaseLost('L1');
      assert.equal(link.state, 'registered');
      assert.equal(link.leaseId, current);
      assert.equal(plane.stats.registers, 5, 'no registration for an answer about an old lease');
    } finally {
      link.close();
      plane.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says the control plane is unreachable since the first call that failed, not since every replica was tried', async () => {
    // Two replicas, both cut off at once: the link tries each for a deadline (a third of the TTL).
    const planes = [await fakeControlPlane(), await fakeControlPlane()];
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'link-'));
    const link = new ControlPlaneLink(
      planes.map((p) => p.address).join(','),
      { id: 'a1', address: '127.0.0.1:1', datacenter: 'dc', labels: {}, capacity: 1, version: 'x' },
      dataDir,
      () => [],
      createLogger('test', 'silent'),
    );
    let since: number | undefined;
    let saidAt: number | undefined;
    link.on('unreachable', (sinceMs: number) => {
      since = sinceMs;
      saidAt = Date.now();
    });
    try {
      link.start();
      await waitFor('the registration', () => link.state === 'registered');
      const cutAt = Date.now();
      for (const p of planes) p.stats.frozen = true;
      await waitFor('the link to say the control plane is unreachable', () => since !== undefined, 20_000);
      // Said once both replicas were tried (two deadlines of 1.33 s), dated back to the first
      // heartbeat that went unanswered: sent within a heartbeat interval of the cut.
      assert.ok(saidAt! - cutAt >= 2_000, `said ${saidAt! - cutAt} ms after the cut: before both replicas were tried`);
      assert.ok(since! <= cutAt + 1_000, `unreachable since ${since! - cutAt} ms after the cut, not since the first failed heartbeat`);
    } finally {
      link.close();
      for (const p of planes) p.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
