import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isProcessType, parseInstanceName, processTypeProblem } from '../../lib/names';
import { parseProcfile, ProcfileError } from '../../lib/procfile';
import { parseScaleArgs, ScaleArgError } from '../../cli/scale-args';

describe('process types and instance names (lib/names.ts, the only copy of the rules)', () => {
  it('accepts letters, digits, `_` and `-` as a process type', () => {
    for (const name of ['web', 'worker-2', 'clock_1', 'Web', '0', '-', '_x']) assert.ok(isProcessType(name), name);
    for (const name of ['', 'web.1', 'wo rker', 'wörker', 'a/b', 'web=1', 'x+1', 'run.7']) assert.ok(!isProcessType(name), name);
    assert.equal(processTypeProblem('web'), undefined);
    assert.equal(processTypeProblem('web.1'), 'invalid process type `web.1`: use up to 63 letters, digits, `_` and `-`');
  });

  it('refuses a process type over 63 characters, naming the limit: its log files are named after it', () => {
    assert.ok(isProcessType('w'.repeat(63)));
    assert.ok(!isProcessType('w'.repeat(64)));
    assert.match(processTypeProblem('w'.repeat(300)) ?? '', /^process type `w{79}…` is 300 characters long; at most 63 are allowed/);
    assert.throws(() => parseProcfile(`${'w'.repeat(64)}: sleep 1\n`), /Procfile line 1: process type `w{64}` is 64 characters long; at most 63/);
    assert.throws(() => parseScaleArgs([`${'w'.repeat(64)}=1`]), /at most 63 are allowed/);
    // An instance of such a type, left running by an older version, can still be named (and reported).
    assert.deepEqual(parseInstanceName(`${'w'.repeat(300)}.1`), { type: 'w'.repeat(300), number: 1 });
  });

  it('shows a NUL in a name it refuses as \\0, not as an invisible byte', () => {
    assert.equal(processTypeProblem('a\0b'), 'invalid process type `a\\0b`: use up to 63 letters, digits, `_` and `-`');
  });

  it('splits TYPE.N with N from 1, and nothing else', () => {
    assert.deepEqual(parseInstanceName('worker.3'), { type: 'worker', number: 3 });
    assert.deepEqual(parseInstanceName('run.12'), { type: 'run', number: 12 });
    assert.deepEqual(parseInstanceName('my-worker_2.10'), { type: 'my-worker_2', number: 10 });
    for (const name of ['worker.0', 'worker.01', 'worker', 'worker.', '.3', 'worker.-1', 'worker.1.2', 'wo rker.1', 'worker.1x', '../x']) {
      assert.equal(parseInstanceName(name), undefined, name);
    }
  });

  it('is the rule the Procfile, scale and the control plane apply', () => {
    assert.throws(() => parseProcfile('web.1: sleep 1\n'), (err: unknown) => err instanceof ProcfileError && /use up to 63 letters, digits, `_` and `-`/.test(err.message));
    assert.deepEqual(parseProcfile('my_worker-2: sleep 1\n'), { 'my_worker-2': 'sleep 1' });
    assert.throws(() => parseScaleArgs(['web.1=2']), ScaleArgError);
    assert.deepEqual(parseScaleArgs(['my_worker-2=2']), [{ type: 'my_worker-2', count: 2 }]);
  });
});
