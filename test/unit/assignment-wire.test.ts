/**
 * control-plane/agents/assignment-wire.ts: the batches written straight into bytes decode, with
 * the agents' own proto-loader decoder, to what the generic encoding of the same batch gives.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { agentProto } from '../../proto/load';
import { encodeAssignmentBatch, passEncoded, type AppCreatedAt } from '../../control-plane/agents/assignment-wire';
import type { AssignmentDelta } from '../../control-plane/agents/assignment-hub';
import type { Assignment } from '../../control-plane/scheduler/types';

const method = agentProto().AgentApi.service.WatchAssignments;
const decode = (buf: Buffer) => method.responseDeserialize(buf);

/** The batch as the generic path encodes it (the wire shape agent-service.ts wrote before). */
function generic(delta: AssignmentDelta, createdAt: AppCreatedAt): Buffer {
  return method.responseSerialize({
    snapshot: delta.snapshot,
    upserts: delta.upserts.map((a) => ({
      app: a.app, instance: a.instance, type: a.type, release: a.release, slug: a.slug, restart_token: a.restartToken,
      grace_ms: a.graceMs, boot_timeout_ms: a.bootTimeoutMs ?? 0, logs_non_blocking: a.logsNonBlocking === true,
      app_created_at_ms: createdAt(a.app),
    })),
    removes: delta.removes,
  });
}

const assignment = (over: Partial<Assignment> = {}): Assignment => ({
  agentId: 'a-1', app: 'shop', instance: 'worker.3', type: 'worker', release: 7, slug: 'f'.repeat(64), restartToken: 'r-1', graceMs: 30_000, ...over,
});

function check(delta: AssignmentDelta, createdAt: AppCreatedAt = () => 0): void {
  const fast = encodeAssignmentBatch(delta, createdAt);
  // protobufjs also writes the fields it was given at their default value; proto3 decodes both alike.
  assert.deepStrictEqual(decode(fast), decode(generic(delta, createdAt)));
}

describe('assignment batch encoding', () => {
  it('encodes snapshots, upserts and removes as the generic encoder does', () => {
    check({ snapshot: true, upserts: [], removes: [] });
    check({ snapshot: true, upserts: [assignment(), assignment({ instance: 'worker.4', bootTimeoutMs: 60_000, logsNonBlocking: true })], removes: [] });
    check({ snapshot: false, upserts: [assignment({ restartToken: '', graceMs: 0, release: 0 })], removes: [{ app: 'shop', instance: 'web.1' }] });
    check({ snapshot: false, upserts: [], removes: [{ app: 'ünï', instance: 'web.10' }, { app: '', instance: '' }] });
  });

  it('sends each app\'s creation time with its assignments', () => {
    const createdAt: AppCreatedAt = (app) => (app === 'shop' ? 1_796_478_562_963 : 0);
    const delta = { snapshot: true, upserts: [assignment(), assignment({ app: 'other', instance: 'web.1' })], removes: [] };
    check(delta, createdAt);
    const decoded = decode(encodeAssignmentBatch(delta, createdAt)) as { upserts: Array<{ app_created_at_ms: number }> };
    assert.deepEqual(decoded.upserts.map((u) => u.app_created_at_ms), [1_796_478_562_963, 0]);
  });

  it('encodes large and negative numbers, long strings and many items', () => {
    check({ snapshot: false, upserts: [assignment({ release: 2_147_483_647, graceMs: -1, bootTimeoutMs: -2_147_483_648 })], removes: [] });
    check({ snapshot: false, upserts: [assignment({ restartToken: 'é'.repeat(20_000) })], removes: [] });
    const many = Array.from({ length: 500 }, (_, i) => assignment({ instance: `worker.${i + 1}`, release: i }));
    check({ snapshot: true, upserts: many, removes: many.map((a) => ({ app: a.app, instance: a.instance })) });
  });

  it('passes encoded responses through the serializer and serializes objects as before', () => {
    const service = passEncoded(agentProto().AgentApi.service, 'WatchAssignments');
    const bytes = encodeAssignmentBatch({ snapshot: true, upserts: [assignment()], removes: [] });
    assert.equal(service.WatchAssignments.responseSerialize(bytes as never), bytes);
    const object = { snapshot: true, upserts: [], removes: [{ app: 'shop', instance: 'web.1' }] };
    assert.deepStrictEqual(service.WatchAssignments.responseSerialize(object), method.responseSerialize(object));
    assert.equal(service.Register, agentProto().AgentApi.service.Register, 'other methods unchanged');
  });
});
