/** lib/restart-token: `restart --wait` reads back the part of an instance's token that its restart changed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../control-plane/scheduler/schedule';
import { RESTART_TOKEN_PART, restartTokenParts } from '../../lib/restart-token';
import { agents3, app } from '../helpers/scheduler-fixtures';

describe('restart tokens: the parts the scheduler joins are the parts restart --wait reads', () => {
  const tokensOf = (restartTokens: Record<string, string>) => {
    const plan = schedule({ apps: [{ ...app('shop', { worker: 3 }), restartTokens }], agents: agents3, assignments: [] });
    return new Map(plan.put.map((a) => [a.instance, restartTokenParts(a.restartToken)]));
  };

  it('no restart yet: three empty parts', () => {
    assert.deepEqual(tokensOf({}).get('worker.1'), ['', '', '']);
  });

  it('an app, a type and an instance token each land in their own part', () => {
    const parts = tokensOf({ '*': 'a1', worker: 't1', 'worker.2': 'i1' });
    assert.deepEqual(parts.get('worker.2'), ['a1', 't1', 'i1']);
    assert.deepEqual(parts.get('worker.1'), ['a1', 't1', '']);
    assert.equal(parts.get('worker.2')![RESTART_TOKEN_PART.instance], 'i1');
    assert.equal(parts.get('worker.1')![RESTART_TOKEN_PART.type], 't1');
    assert.equal(parts.get('worker.3')![RESTART_TOKEN_PART.app], 'a1');
  });

  it('a token holding the separator or the escape character reads back unchanged', () => {
    assert.deepEqual(tokensOf({ '*': 'a/b', worker: '50%/x%2F' }).get('worker.1'), ['a/b', '50%/x%2F', '']);
  });

  it('a token of another form has no parts', () => {
    assert.deepEqual(restartTokenParts('legacy'), []);
    assert.deepEqual(restartTokenParts(''), []);
  });
});
