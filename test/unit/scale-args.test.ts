import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatScaleArg, parseScaleArgs, ScaleArgError, type ScaleArg } from '../../cli/scale-args';

describe('parseScaleArgs: accepted', () => {
  const cases: Array<{ name: string; args: string[]; expected: ScaleArg[] }> = [
    { name: 'one type', args: ['web=2'], expected: [{ type: 'web', count: 2 }] },
    {
      name: 'several types, in argument order',
      args: ['worker=10', 'web=2'],
      expected: [
        { type: 'worker', count: 10 },
        { type: 'web', count: 2 },
      ],
    },
    { name: 'scaling to zero', args: ['worker=0'], expected: [{ type: 'worker', count: 0 }] },
    { name: 'leading zeros', args: ['worker=007'], expected: [{ type: 'worker', count: 7 }] },
    // The per-type limit is the control plane's --max-per-type: the CLI leaves it to it.
    { name: 'a count over the default per-type limit', args: ['worker=5000'], expected: [{ type: 'worker', count: 5000 }] },
    { name: 'a relative change over it', args: ['worker+1001'], expected: [{ type: 'worker', count: 1001, relative: true }] },
    { name: 'the largest count a request carries', args: ['worker=2147483647'], expected: [{ type: 'worker', count: 2147483647 }] },
    {
      name: 'type names with digits, dashes and underscores',
      args: ['worker-2=1', 'clock_1=1', 'Web=3'],
      expected: [
        { type: 'worker-2', count: 1 },
        { type: 'clock_1', count: 1 },
        { type: 'Web', count: 3 },
      ],
    },
    { name: "Heroku's relative form, up", args: ['web+2'], expected: [{ type: 'web', count: 2, relative: true }] },
    { name: "Heroku's relative form, down", args: ['worker-1'], expected: [{ type: 'worker', count: -1, relative: true }] },
    {
      name: 'relative and total together; the last sign splits a dashed type',
      args: ['web=1', 'worker-2-3', 'clock+0'],
      expected: [
        { type: 'web', count: 1 },
        { type: 'worker-2', count: -3, relative: true },
        { type: 'clock', count: 0, relative: true },
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => assert.deepEqual(parseScaleArgs(c.args), c.expected));
  }
});

describe('parseScaleArgs: rejected, naming the argument', () => {
  const cases: Array<{ name: string; args: string[]; message: string; arg?: string }> = [
    {
      name: 'no arguments',
      args: [],
      message: 'no process types to scale: give TYPE=N, e.g. `cluster scale web=2 worker=10`',
    },
    { name: 'a word', args: ['worker=abc'], message: 'worker=abc: instance count must be a whole number, e.g. worker=2' },
    { name: 'a negative count', args: ['worker=-1'], message: 'worker=-1: an instance count cannot be below 0; `worker=0` stops them all, `worker-1` removes 1' },
    { name: 'a fraction', args: ['worker=1.5'], message: 'worker=1.5: instance count must be a whole number, e.g. worker=2' },
    { name: 'a plus sign', args: ['web=+2'], message: 'web=+2: instance count must be a whole number, e.g. web=2' },
    { name: 'an exponent', args: ['web=1e3'], message: 'web=1e3: instance count must be a whole number, e.g. web=2' },
    { name: 'spaces around the count', args: ['web= 2'], message: 'web= 2: instance count must be a whole number, e.g. web=2' },
    { name: 'no type', args: ['=3'], message: '=3: missing process type before `=`, e.g. worker=3' },
    { name: 'no count', args: ['worker='], message: 'worker=: missing instance count after `=`, e.g. worker=2' },
    { name: 'no `=`', args: ['worker'], message: 'worker: expected TYPE=N, TYPE+N or TYPE-N, e.g. worker=3 or worker+1' },
    { name: 'an empty argument', args: [''], message: 'empty argument: expected TYPE=N, e.g. worker=3' },
    {
      name: 'a word as a relative change',
      args: ['worker+abc'],
      message: 'worker+abc: the change after `+` must be a whole number, e.g. worker+1',
    },
    { name: 'a sign without a number', args: ['worker+'], message: 'worker+: missing a number after `+`, e.g. worker+1' },
    { name: 'a relative change without a type', args: ['+2'], message: '+2: missing process type before `+`, e.g. worker+2' },
    { name: 'a relative change too large for a request', args: ['worker+2147483648'], message: 'worker+2147483648: 2147483648 is too large a count (the most a request can carry is 2147483647)' },
    { name: 'a dashed type without a count', args: ['my-worker'], message: 'my-worker: expected TYPE=N, TYPE+N or TYPE-N, e.g. worker=3 or worker+1' },
    { name: 'both forms for one type', args: ['worker=2', 'worker+1'], message: 'worker+1: process type `worker` is already given as worker=2', arg: 'worker+1' },
    {
      name: 'a space in the type',
      args: ['wo rker=1'],
      message: 'wo rker=1: invalid process type `wo rker`: use up to 63 letters, digits, `_` and `-`',
    },
    {
      name: 'an instance name instead of a type',
      args: ['web.1=1'],
      message: 'web.1=1: invalid process type `web.1`: use up to 63 letters, digits, `_` and `-`',
    },
    {
      name: 'a count too long for a number',
      args: ['worker=99999999999999999999999'],
      message: 'worker=99999999999999999999999: 99999999999999999999999 is too large a count (the most a request can carry is 2147483647)',
    },
    {
      name: "Heroku's instance size",
      args: ['web=2:standard-1X'],
      message: 'web=2:standard-1X: instance sizes are not supported; use web=2',
    },
    {
      name: 'a size without a count',
      args: ['web=:performance-m'],
      message: 'web=:performance-m: instance sizes are not supported; use web=N',
    },
    {
      name: 'a type given twice',
      args: ['worker=2', 'web=1', 'worker=3'],
      message: 'worker=3: process type `worker` is already given as worker=2',
      arg: 'worker=3',
    },
    {
      name: 'a type given twice with the same count',
      args: ['web=1', 'web=1'],
      message: 'web=1: process type `web` is already given as web=1',
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      assert.throws(
        () => parseScaleArgs(c.args),
        (err: unknown) => {
          assert.ok(err instanceof ScaleArgError);
          assert.equal(err.message, c.message);
          assert.equal(err.arg, c.arg ?? c.args[0]);
          return true;
        },
      );
    });
  }
});

describe('formatScaleArg', () => {
  it('writes changes as the user does', () => {
    assert.deepEqual(
      [{ type: 'web', count: 2 }, { type: 'worker', count: 2, relative: true as const }, { type: 'clock', count: -1, relative: true as const }].map(formatScaleArg),
      ['web=2', 'worker+2', 'clock-1'],
    );
  });
});
