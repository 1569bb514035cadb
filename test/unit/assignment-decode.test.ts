/** state/cluster-view.ts decodeAssignment: what records.ts decode gives, repeated strings shared. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { decodeAssignment } from '../../control-plane/state/cluster-view';
import { decode, encode } from '../../control-plane/records';
import type { Assignment } from '../../control-plane/scheduler/types';

const assignment = (instance: string): Assignment => ({
  agentId: 'agent-1', app: 'shop', instance, type: 'worker', release: 3, slug: 'a'.repeat(64), restartToken: 'r-9', graceMs: 1000,
});

describe('assignment decoding for the mirror', () => {
  it('gives what decode gives', () => {
    const text = encode(assignment('worker.1'));
    assert.deepStrictEqual(decodeAssignment(text), decode(text));
    assert.equal(decodeAssignment('not json'), undefined);
    assert.equal(decodeAssignment('[1,2]'), undefined);
  });

  it('shares one copy of the strings assignments repeat', () => {
    // Strings compare by value: sharing shows in the heap. 20,000 assignments with a 1 KB restart
    // token keep ~20 MB of copies unshared, a few MB shared.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const token = 'r'.repeat(1024);
    const texts = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ ...assignment(`worker.${i + 1}`), restartToken: token }));
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept = texts.map(decodeAssignment);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(kept.length, 20_000);
    assert.ok(grown < 10_000_000, `20,000 decoded assignments hold ${(grown / 1e6).toFixed(1)} MB: the token is not shared`);
    assert.equal(kept[0]!.restartToken, token);
  });

  it('leaves fields of the wrong type as they are', () => {
    const odd = decodeAssignment('{"agentId":7,"app":null,"instance":"worker.1"}') as unknown as Record<string, unknown>;
    assert.equal(odd.agentId, 7);
    assert.equal(odd.app, null);
  });
});
