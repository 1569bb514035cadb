/** control-plane/agents/log-source-memo.ts: which log-source keys a report must still write. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogSourceMemo } from '../../control-plane/agents/log-source-memo';

describe('log source memo', () => {
  it('asks for each app once per lease, and again under a new lease or after forgetting', () => {
    const memo = new LogSourceMemo();
    assert.deepEqual(memo.missing('a', 'L1', ['shop', 'blog']), ['shop', 'blog']);
    memo.recorded('a', 'L1', ['shop', 'blog']);
    assert.deepEqual(memo.missing('a', 'L1', ['shop', 'blog', 'api']), ['api']);
    assert.deepEqual(memo.missing('b', 'L1', ['shop']), ['shop'], 'per agent');
    assert.deepEqual(memo.missing('a', 'L2', ['shop']), ['shop'], 'a new lease holds none of the keys');
    memo.recorded('a', 'L2', ['shop']);
    assert.deepEqual(memo.missing('a', 'L2', ['shop', 'blog']), ['blog'], 'the old lease is forgotten');
    memo.forget('a');
    assert.deepEqual(memo.missing('a', 'L2', ['shop']), ['shop']);
  });

  it('stays bounded: beyond its limits it forgets and asks again', () => {
    const memo = new LogSourceMemo();
    const apps = Array.from({ length: 10_001 }, (_, i) => `app-${i}`);
    memo.recorded('a', 'L', apps);
    assert.ok(memo.missing('a', 'L', apps).length > 0, 'more apps than it keeps');
    for (let i = 0; i < 20_001; i++) memo.recorded(`agent-${i}`, 'L', ['shop']);
    assert.deepEqual(memo.missing('agent-0', 'L', ['shop']), ['shop'], 'more agents than it keeps');
  });
});
