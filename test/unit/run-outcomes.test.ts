/** control-plane/cron/run-outcomes.ts: a job's history stays newest first, whatever order outcomes come in. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withOutcomes, type Outcome } from '../../control-plane/cron/run-outcomes';
import type { JobRecord, JobStateRecord, RunRecord } from '../../control-plane/cron/records';

const job = { name: 'tick', app: 'shop', tickMs: 0 } as unknown as JobRecord;
const run = (n: number, state: RunRecord['state']): RunRecord => ({ instance: `run.${n}`, agentId: 'a1', tickMs: n * 1_000, release: 1, claimedAtMs: n * 1_000, state });

describe('withOutcomes', () => {
  it('keeps the history newest first when runs end in another order than they started', () => {
    const state: JobStateRecord = {
      lastTickMs: 6_000, firesHandled: 0, skipped: 0, missed: 0,
      active: [run(4, 'running'), run(6, 'running')],
      // run.5 ended in an earlier pass; run.4 ends only now (its agent came back late).
      history: [{ ...run(5, 'succeeded'), finishedAtMs: 5_500 }, { ...run(3, 'succeeded'), finishedAtMs: 3_500 }],
    };
    const outcomes = new Map<string, Outcome>([
      ['shop/run.4', { kind: 'ended', state: 'lost', reason: 'its host a1 went away; the exit is unknown' }],
      ['shop/run.6', { kind: 'ended', state: 'not-started', reason: 'its host a1 went away before it started' }],
    ]);
    const next = withOutcomes(job, state, outcomes)!;
    assert.deepEqual(next.history.map((r) => r.instance), ['run.6', 'run.5', 'run.4', 'run.3']);
    assert.deepEqual(next.active, []);
  });
});
