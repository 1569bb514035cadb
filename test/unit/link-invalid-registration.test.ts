/**
 * agent/link/control-plane-link.ts against a fake AgentApi that refuses the registration as
 * invalid (`INVALID_ARGUMENT`, reason `limit-exceeded`), as a control plane with stricter rules than
 * the agent's `agent start` checks would: the link says the control plane refused it, naming why,
 * never that it is unreachable; it tries again after pauses that grow instead of every half second,
 * and registers once the control plane accepts. An earlier version logged "control plane
 * unreachable" once and then retried silently every ~500 ms forever.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { agentProto } from '../../proto/load';
import { ControlPlaneLink } from '../../agent/link/control-plane-link';
import { LIMIT_EXCEEDED, statusWithReason } from '../../lib/status-reason';
import { waitFor } from '../helpers/wait-for';

const REFUSAL = 'register: 101 labels; an agent carries at most 100';

/** A control plane that refuses the first `refusals` registrations, then accepts. */
async function refusingControlPlane(refusals: number) {
  const registers: number[] = [];
  const server = new grpc.Server();
  server.addService(agentProto().AgentApi.service, {
    Register: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      registers.push(Date.now());
      if (registers.length <= refusals) return cb(statusWithReason(grpc.status.INVALID_ARGUMENT, REFUSAL, LIMIT_EXCEEDED));
      cb(null, { lease_id: 'L1', ttl_seconds: 4, heartbeat_ms: 1_000, address: '127.0.0.1:1' });
    },
    Heartbeats: (call: grpc.ServerDuplexStream<{ lease_id: string; beat: number }, unknown>) => {
      call.on('data', (req: { lease_id: string; beat: number }) => call.write({ alive: req.lease_id === 'L1', beat: req.beat }));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
    ListReplicas: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { replicas: [], cluster_id: '' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { registers, address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

describe('control-plane link: a registration refused as invalid', { timeout: 60_000 }, () => {
  it('is said as a refusal naming why (not an outage), retried after growing pauses, and registers once accepted', async () => {
    const plane = await refusingControlPlane(3);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'link-invalid-'));
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    const link = new ControlPlaneLink(plane.address, { id: 'bad-2', address: '127.0.0.1:1', datacenter: 'dc', labels: {}, capacity: 1, version: 'x' }, dataDir, () => [], logger);
    const events: string[] = [];
    link.on('unreachable', () => events.push('unreachable'));
    link.on('refused', () => events.push('refused'));
    try {
      link.start();
      await waitFor('a registration accepted after 3 refusals', () => link.state === 'registered', 20_000);
      const gaps = plane.registers.slice(1).map((at, i) => at - plane.registers[i]!);
      assert.equal(gaps.length, 3);
      // 500 ms, then 1 s, then 2 s (±20 %): each about twice the one before, not ~500 ms each.
      assert.ok(gaps[0]! < 1_000, `first pause ${gaps[0]} ms`);
      assert.ok(gaps[2]! >= 1_500 && gaps[2]! > gaps[0]! * 2, `pauses ${gaps.join(', ')} ms do not grow`);
      assert.ok(!events.includes('unreachable'), `a refusal is no outage: ${events.join(', ')}`);
      assert.ok(events.includes('refused'), 'the agent is told it was refused');
      const said = lines.map((l) => l.msg);
      assert.ok(!said.some((m) => /unreachable/.test(m)), said.join('\n'));
      const errors = lines.filter((l) => l.level >= 50).map((l) => l.msg);
      assert.equal(errors.length, 1, `one error for one reason: ${errors.join('\n')}`);
      assert.match(errors[0]!, /the control plane refused to register this agent: register: 101 labels; an agent carries at most 100; .*growing pause, up to every 30 s/);
    } finally {
      link.close();
      plane.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
