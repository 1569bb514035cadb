/**
 * control-plane/agents/assignment-stream.ts: an agent that stops reading its assignment stream
 * costs one pending message, not a queue of every change; once it reads again, one snapshot
 * brings it to the assignments as they are then.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { agentProto } from '../../proto/load';
import { AssignmentHub } from '../../control-plane/agents/assignment-hub';
import { streamAssignments } from '../../control-plane/agents/assignment-stream';
import type { AssignmentIndex, PlacedEvent } from '../../control-plane/state/assignment-index';
import type { Assignment } from '../../control-plane/scheduler/types';

const decode = (buf: Buffer) => agentProto().AgentApi.service.WatchAssignments.responseDeserialize(buf);

const assignment = (instance: string, agentId = 'a-1'): Assignment => ({
  agentId, app: 'shop', instance, type: 'worker', release: 1, slug: 'f'.repeat(64), restartToken: '', graceMs: 30_000,
});

/** The index as the hub reads it: per-agent assignments and change events. */
class FakeIndex extends EventEmitter {
  readonly placed = new Map<string, Assignment>();
  *all(agentId?: string) {
    for (const a of this.placed.values()) if (!agentId || a.agentId === agentId) yield { assignment: a };
  }
  put(a: Assignment): void {
    this.placed.set(a.instance, a);
    this.emit('change', [{ type: 'put', assignment: a }] satisfies PlacedEvent[]);
  }
  remove(instance: string): void {
    const a = this.placed.get(instance)!;
    this.placed.delete(instance);
    this.emit('change', [{ type: 'delete', agentId: a.agentId, app: a.app, instance }] satisfies PlacedEvent[]);
  }
}

/** A server stream whose buffer is full while `full` is set. */
class FakeCall extends EventEmitter {
  cancelled = false;
  destroyed = false;
  full = false;
  readonly written: Array<{ snapshot: boolean; upserts: string[]; removes: string[] }> = [];
  write(message: Buffer): boolean {
    const batch = decode(message);
    this.written.push({ snapshot: batch.snapshot, upserts: batch.upserts.map((u) => u.instance).sort(), removes: batch.removes.map((r) => r.instance) });
    return !this.full;
  }
}

function setUp() {
  const index = new FakeIndex();
  const hub = new AssignmentHub(index as unknown as AssignmentIndex);
  const call = new FakeCall();
  index.put(assignment('worker.1'));
  streamAssignments(call, hub, 'a-1');
  return { index, call };
}

describe('an agent\'s assignment stream', () => {
  it('sends a snapshot, then each change', () => {
    const { index, call } = setUp();
    index.put(assignment('worker.2'));
    index.put(assignment('worker.9', 'a-2')); // another agent's
    index.remove('worker.1');
    assert.deepStrictEqual(call.written, [
      { snapshot: true, upserts: ['worker.1'], removes: [] },
      { snapshot: false, upserts: ['worker.2'], removes: [] },
      { snapshot: false, upserts: [], removes: ['worker.1'] },
    ]);
  });

  it('writes nothing more while the agent does not read, then one snapshot of what is assigned then', () => {
    const { index, call } = setUp();
    call.full = true;
    index.put(assignment('worker.2')); // fills the buffer: written, and the stream is behind
    for (let i = 3; i <= 1000; i++) index.put(assignment(`worker.${i}`));
    for (let i = 2; i <= 900; i++) index.remove(`worker.${i}`);
    assert.equal(call.written.length, 2, 'changes were queued for an agent that does not read');

    call.full = false;
    call.emit('drain');
    const expected = ['worker.1', ...Array.from({ length: 100 }, (_, i) => `worker.${901 + i}`)].sort();
    assert.deepStrictEqual(call.written[2], { snapshot: true, upserts: expected, removes: [] });

    index.put(assignment('worker.2'));
    assert.deepStrictEqual(call.written.slice(3), [{ snapshot: false, upserts: ['worker.2'], removes: [] }], 'changes flow again');
  });

  it('stops when the stream closes', () => {
    const { index, call } = setUp();
    call.emit('close');
    index.put(assignment('worker.2'));
    assert.equal(call.written.length, 1);
  });
});
