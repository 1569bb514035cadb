/**
 * Assignments packed per agent and app (state/packed-assignments.ts): the value's format, the
 * index that reads both layouts (state/assignment-index.ts), and the leader's writes of a plan
 * (leader/plan-writes.ts) applied to it, including a plan cut between two transactions at every
 * point.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Keys } from '../../control-plane/keys';
import type { MirrorEntry, MirrorEvent } from '../../control-plane/etcd/mirror';
import type { WriteOp } from '../../control-plane/etcd/batch';
import { assignmentProjection } from '../../control-plane/state/cluster-view';
import { AssignmentIndex, type PlacedEvent } from '../../control-plane/state/assignment-index';
import { encodePackedAssignments, packedAssignmentsOf, PACK_MAX } from '../../control-plane/state/packed-assignments';
import { planOps } from '../../control-plane/leader/plan-writes';
import { encode } from '../../control-plane/records';
import type { Assignment, Plan } from '../../control-plane/scheduler/types';

const keys = new Keys('/t/');
const project = assignmentProjection(keys);

function assignment(agentId: string, app: string, instance: string, release = 1): Assignment {
  return { agentId, app, instance, type: instance.split('.')[0]!, release, slug: 's'.repeat(64), restartToken: 'r', graceMs: 5000 };
}

/** The assignments prefix of an etcd in memory: each apply() is one transaction (one revision), its events one watch batch. */
class MemoryPrefix extends EventEmitter<{ change: [MirrorEvent[]]; resync: [] }> {
  readonly entries = new Map<string, MirrorEntry & { parsed: object | undefined }>();
  revision = 100;

  decoded<T extends object>(keyOrEntry: string | MirrorEntry | undefined): T | undefined {
    const entry = typeof keyOrEntry === 'string' ? this.entries.get(keyOrEntry) : (keyOrEntry as { parsed?: object } | undefined);
    return entry?.parsed as T | undefined;
  }

  apply(ops: WriteOp[]): void {
    if (ops.length === 0) return;
    this.revision++;
    const events: MirrorEvent[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const entry = { value: '', modRevision: this.revision, createRevision: this.entries.get(op.put)?.createRevision ?? this.revision, lease: '0', parsed: project(op.value, op.put) };
        this.entries.set(op.put, entry);
        events.push({ type: 'put', key: op.put, entry });
      } else if (this.entries.delete(op.delete)) {
        events.push({ type: 'delete', key: op.delete });
      }
    }
    this.emit('change', events);
  }
}

function setup(): { etcd: MemoryPrefix; index: AssignmentIndex; events: PlacedEvent[] } {
  const etcd = new MemoryPrefix();
  const index = new AssignmentIndex(etcd, keys);
  const events: PlacedEvent[] = [];
  index.on('change', (batch) => events.push(...batch));
  return { etcd, index, events };
}

/** What the index holds, as `agent/app/instance@release`, sorted. */
function held(index: AssignmentIndex): string[] {
  return [...index.all()].map(({ assignment: a }) => `${a.agentId}/${a.app}/${a.instance}@${a.release}`).sort();
}

const plan = (put: Assignment[], remove: Assignment[] = []): Plan => ({ put, remove, unplaced: [] });
const ops = (p: Plan, index: AssignmentIndex, packs: boolean): WriteOp[] => [...planOps(p, keys, [], index, packs)];
const describeOp = (op: WriteOp) => ('put' in op ? `+${op.put}` : `-${op.delete}`);

describe('packed assignments: the value', () => {
  it('keeps every field of each instance, names the agent and app from the key, and skips malformed entries', () => {
    const a = { ...assignment('a1', 'shop', 'web.1'), bootTimeoutMs: 9000, logsNonBlocking: true };
    const b = assignment('a1', 'shop', 'worker.2');
    const value = JSON.parse(encodePackedAssignments([{ assignment: a }, { assignment: b, since: 42 }])) as { assignments: unknown[] };
    assert.equal(JSON.stringify(value).includes('a1'), false, 'the agent is named by the key only');
    value.assignments.push(null, { type: 'web' }, 'x');
    const packed = packedAssignmentsOf(value, 'a1', 'shop');
    assert.deepEqual([...packed!.instances.keys()], ['web.1', 'worker.2']);
    assert.deepEqual(packed!.instances.get('web.1'), a);
    assert.deepEqual(packed!.instances.get('worker.2'), b);
    assert.deepEqual([...packed!.since], [['worker.2', 42]]);
    assert.equal(packedAssignmentsOf({ instances: [] }, 'a1', 'shop'), undefined);
  });

  it('has a key that a version reading only per-instance keys does not take for an instance', () => {
    const key = keys.packedAssignments('a1', 'shop');
    assert.equal(keys.parseAssignment(key), undefined);
    assert.deepEqual(keys.parsePackedAssignments(key), { agentId: 'a1', app: 'shop' });
    assert.equal(keys.parsePackedAssignments(keys.assignment('a1', 'shop', 'web.1')), undefined);
  });
});

describe('packed assignments: the index of both layouts', () => {
  it('reads per-instance keys and packed values alike, and tells only the instances that changed', () => {
    const { etcd, index, events } = setup();
    etcd.apply([{ put: keys.assignment('a1', 'shop', 'web.1'), value: encode(assignment('a1', 'shop', 'web.1')) }]);
    etcd.apply([{ put: keys.packedAssignments('a2', 'shop'), value: encodePackedAssignments(['web.2', 'web.3'].map((i) => ({ assignment: assignment('a2', 'shop', i) }))) }]);
    assert.deepEqual(held(index), ['a1/shop/web.1@1', 'a2/shop/web.2@1', 'a2/shop/web.3@1']);
    assert.equal(events.length, 3);
    const web2 = index.get('a2', 'shop', 'web.2')!.assignment;

    // The value rewritten with web.3 changed and web.4 added: web.2 is not told again, and keeps its object.
    events.length = 0;
    const entries = [{ assignment: assignment('a2', 'shop', 'web.2'), since: 102 }, { assignment: assignment('a2', 'shop', 'web.3', 2) }, { assignment: assignment('a2', 'shop', 'web.4') }];
    etcd.apply([{ put: keys.packedAssignments('a2', 'shop'), value: encodePackedAssignments(entries) }]);
    assert.deepEqual(events.map((e) => (e.type === 'put' ? `+${e.assignment.instance}` : `-${e.instance}`)).sort(), ['+web.3', '+web.4']);
    assert.equal(index.get('a2', 'shop', 'web.2')!.assignment, web2);
    assert.equal(index.get('a2', 'shop', 'web.2')!.revision, 102, 'an unchanged instance keeps the revision it was written at');
    assert.equal(index.get('a2', 'shop', 'web.4')!.revision, 103);

    events.length = 0;
    etcd.apply([{ delete: keys.packedAssignments('a2', 'shop') }]);
    assert.deepEqual(events.map((e) => e.type).sort(), ['delete', 'delete', 'delete']);
    assert.deepEqual(held(index), ['a1/shop/web.1@1']);
  });

  it('counts a per-instance record only when it was written after its group\'s packed value', () => {
    const { etcd, index } = setup();
    etcd.apply([{ put: keys.assignment('a1', 'shop', 'web.1'), value: encode(assignment('a1', 'shop', 'web.1', 7)) }]);
    etcd.apply([{ put: keys.assignment('a1', 'shop', 'web.9'), value: encode(assignment('a1', 'shop', 'web.9')) }]);
    etcd.apply([{ put: keys.packedAssignments('a1', 'shop'), value: encodePackedAssignments([{ assignment: assignment('a1', 'shop', 'web.1', 8) }]) }]);
    assert.deepEqual(held(index), ['a1/shop/web.1@8'], 'older per-instance records are stale, web.9 with them');
    etcd.apply([{ put: keys.assignment('a1', 'shop', 'web.1'), value: encode(assignment('a1', 'shop', 'web.1', 9)) }]);
    assert.deepEqual(held(index), ['a1/shop/web.1@9']);
    etcd.apply([{ delete: keys.assignment('a1', 'shop', 'web.9') }, { put: keys.assignment('a1', 'shop', 'web.9'), value: 'not json' }]);
    assert.deepEqual(held(index), ['a1/shop/web.1@9'], 'a malformed value counts as nothing');
  });

  it('reads what is there again after the mirror was read afresh', () => {
    const { etcd, index } = setup();
    etcd.apply([{ put: keys.packedAssignments('a1', 'shop'), value: encodePackedAssignments([{ assignment: assignment('a1', 'shop', 'web.1') }]) }]);
    const fresh = new AssignmentIndex(etcd, keys);
    let resynced = 0;
    fresh.on('resync', () => resynced++);
    etcd.entries.delete(keys.packedAssignments('a1', 'shop'));
    etcd.entries.set(keys.assignment('a2', 'shop', 'web.2'), { value: '', modRevision: 200, createRevision: 200, lease: '0', parsed: assignment('a2', 'shop', 'web.2') });
    etcd.emit('resync');
    assert.equal(resynced, 1);
    assert.deepEqual(held(fresh), ['a2/shop/web.2@1']);
    assert.deepEqual(held(index), ['a2/shop/web.2@1']);
  });
});

describe('packed assignments: the leader\'s writes', () => {
  it('writes each changed group as one value, unchanged instances with the revision they were written at', () => {
    const { etcd, index, events } = setup();
    const placed = ['a1', 'a2'].flatMap((agent) => ['web.1', 'web.2', 'worker.1'].map((i) => assignment(agent, 'shop', i)));
    const first = ops(plan(placed), index, true);
    assert.deepEqual(first.map(describeOp), [`+${keys.packedAssignments('a1', 'shop')}`, `+${keys.packedAssignments('a2', 'shop')}`]);
    etcd.apply(first);
    assert.equal(held(index).length, 6);

    events.length = 0;
    const second = ops(plan([assignment('a1', 'shop', 'web.3')], [assignment('a1', 'shop', 'web.1')]), index, true);
    assert.deepEqual(second.map(describeOp), [`+${keys.packedAssignments('a1', 'shop')}`]);
    etcd.apply(second);
    assert.deepEqual(events.map((e) => (e.type === 'put' ? `+${e.assignment.instance}` : `-${e.instance}`)).sort(), ['+web.3', '-web.1']);
    assert.equal(index.get('a1', 'shop', 'web.2')!.revision, 101);
    assert.equal(index.get('a1', 'shop', 'web.3')!.revision, 102);

    const last = ops(plan([], ['web.2', 'web.3', 'worker.1'].map((i) => assignment('a1', 'shop', i))), index, true);
    assert.deepEqual(last.map(describeOp), [`-${keys.packedAssignments('a1', 'shop')}`], 'an emptied group leaves no value');
  });

  it('writes per instance without packing, and for a group larger than a value holds', () => {
    const { index } = setup();
    const p = plan([assignment('b', 'x', 'web.1'), assignment('a', 'x', 'web.2'), assignment('b', 'x', 'web.3')], [assignment('c', 'x', 'web.4'), assignment('a', 'x', 'web.5')]);
    assert.deepEqual(ops(p, index, false).map(describeOp), [
      `-${keys.assignment('a', 'x', 'web.5')}`,
      `+${keys.assignment('a', 'x', 'web.2')}`,
      `+${keys.assignment('b', 'x', 'web.1')}`,
      `+${keys.assignment('b', 'x', 'web.3')}`,
      `-${keys.assignment('c', 'x', 'web.4')}`,
    ]);
    const many = Array.from({ length: PACK_MAX + 1 }, (_, i) => assignment('a', 'x', `worker.${i + 1}`));
    assert.equal(ops(plan(many), index, true).length, PACK_MAX + 1);
    assert.equal(ops(plan(many.slice(1)), index, true).length, 1);
  });

  // Each layout change below is cut between two transactions at every point; in between, every
  // instance the plan keeps must be held as it was or as the plan makes it, never missing.
  for (const c of [
    { name: 'per instance → packed (the plan changes the group)', start: false, packs: true, change: true },
    { name: 'packed → per instance (a replica that reads only that joined; nothing else changes)', start: true, packs: false, change: false },
    { name: 'packed → per instance (the group outgrows one value)', start: true, packs: true, change: true, grow: true },
  ]) {
    it(`moves a group ${c.name} without an instance missing at any cut`, () => {
      const start = ['web.1', 'web.2', 'worker.1', 'worker.2'].map((i) => assignment('a1', 'shop', i));
      const other = assignment('a2', 'shop', 'web.9');
      const change = c.change ? plan(c.grow ? Array.from({ length: PACK_MAX }, (_, i) => assignment('a1', 'shop', `clock.${i + 1}`)) : [assignment('a1', 'shop', 'web.1', 2)], [start[3]!]) : plan([]);
      const initial = (index: AssignmentIndex) => ops(plan([...start, other]), index, c.start);
      const probe = setup();
      probe.etcd.apply(initial(probe.index));
      const writes = ops(change, probe.index, c.packs);
      assert.ok(writes.length >= 2, 'a layout change is more than one write');
      const kept = new Set(['web.1', 'web.2', 'worker.1']);
      // Instances the change leaves as they are: their agent must hear nothing of them.
      const untouched = new Set(c.change ? ['web.2', 'worker.1', ...(c.grow ? ['web.1'] : [])] : start.map((a) => a.instance));
      for (let cut = 0; cut <= writes.length; cut++) {
        const { etcd, index, events } = setup();
        etcd.apply(initial(index));
        events.length = 0;
        etcd.apply(writes.slice(0, cut));
        for (const instance of kept) assert.ok(index.get('a1', 'shop', instance), `${instance} missing after ${cut} of ${writes.length} writes`);
        assert.ok(index.get('a2', 'shop', 'web.9'));
        etcd.apply(writes.slice(cut));
        const told = events.map((e) => (e.type === 'put' ? e.assignment : e)).filter((e) => e.agentId === 'a2' || untouched.has(e.instance));
        assert.deepEqual(told, [], `the layout change told an agent of instances it did not change (cut ${cut})`);
        const want = [...kept].map((i) => `a1/shop/${i}@${i === 'web.1' && c.change && !c.grow ? 2 : 1}`);
        if (c.grow) want.push(...Array.from({ length: PACK_MAX }, (_, i) => `a1/shop/clock.${i + 1}@1`));
        if (!c.change) want.push('a1/shop/worker.2@1');
        want.push('a2/shop/web.9@1');
        assert.deepEqual(held(index), want.sort());
        const packedNow = index.group('a1', 'shop').packed;
        assert.equal(packedNow, c.packs && !c.grow);
        assert.equal(index.group('a1', 'shop').singles.size, packedNow ? 0 : index.group('a1', 'shop').placed.size, 'no key of the old layout is left');
      }
    });
  }

  it('writes every packed group back per instance when packing stops, changed or not', () => {
    const { etcd, index } = setup();
    etcd.apply(ops(plan([assignment('a1', 'shop', 'web.1'), assignment('a2', 'blog', 'web.1')]), index, true));
    assert.deepEqual([...index.packedGroups()].sort(), [['a1', 'shop'], ['a2', 'blog']]);
    etcd.apply(ops(plan([]), index, false));
    assert.deepEqual([...index.packedGroups()], []);
    assert.deepEqual([...etcd.entries.keys()].sort(), [keys.assignment('a1', 'shop', 'web.1'), keys.assignment('a2', 'blog', 'web.1')]);
  });
});
