/** `cluster run`'s command keeps its own options: a `--` goes before its first word (cli/run-args.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { separateRunCommand } from '../../cli/run-args';

describe('separateRunCommand', () => {
  it("gives the command's options to the command, not to run", () => {
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', 'ls', '-d', '/tmp']), ['run', '-a', 'shop', '--', 'ls', '-d', '/tmp']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', 'ls', '-la']), ['run', '-a', 'shop', '--', 'ls', '-la']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', 'sh', '-c', 'echo hi', '-a', 'x']), ['run', '-a', 'shop', '--', 'sh', '-c', 'echo hi', '-a', 'x']);
    assert.deepEqual(separateRunCommand(['run:detached', '--app', 'shop', 'rake', '--trace']), ['run:detached', '--app', 'shop', '--', 'rake', '--trace']);
  });

  it("keeps run's own options before the command, global ones included", () => {
    assert.deepEqual(
      separateRunCommand(['--server', 'h:1', 'run', '-d', '--no-tty', '--server', 'h:2', '-a', 'shop', 'echo', '-n']),
      ['--server', 'h:1', 'run', '-d', '--no-tty', '--server', 'h:2', '-a', 'shop', '--', 'echo', '-n'],
    );
    assert.deepEqual(separateRunCommand(['run', '--app=shop', 'ls', '-l']), ['run', '--app=shop', '--', 'ls', '-l']);
  });

  it("takes a trailing -a APP as run's when no app came before the command (Heroku's habit)", () => {
    assert.deepEqual(separateRunCommand(['run', 'rake', 'db:migrate', '-a', 'shop']), ['run', '-a', 'shop', '--', 'rake', 'db:migrate']);
    assert.deepEqual(separateRunCommand(['run', '-d', 'ls', '-l', '--app', 'shop']), ['run', '-d', '--app', 'shop', '--', 'ls', '-l']);
    assert.deepEqual(separateRunCommand(['run:detached', 'ls', '--app=shop']), ['run:detached', '--app=shop', '--', 'ls']);
    // Not trailing, or the command's own words only: the command's.
    assert.deepEqual(separateRunCommand(['run', 'grep', '-a', 'x', 'f']), ['run', '--', 'grep', '-a', 'x', 'f']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop']), ['run', '-a', 'shop']);
    assert.deepEqual(separateRunCommand(['run', 'ls', '-a']), ['run', '--', 'ls', '-a']);
  });

  it('leaves a line that has its -- already, has no command, or is another command', () => {
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', '--', 'ls', '-la']), ['run', '-a', 'shop', '--', 'ls', '-la']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop']), ['run', '-a', 'shop']);
    assert.deepEqual(separateRunCommand(['run', '--help']), ['run', '--help']);
    assert.deepEqual(separateRunCommand(['ps', '-a', 'shop', 'web']), ['ps', '-a', 'shop', 'web']);
    assert.deepEqual(separateRunCommand(['schedule:add', '@daily', '-a', 'shop', '--', 'ls', '-d']), ['schedule:add', '@daily', '-a', 'shop', '--', 'ls', '-d']);
  });

  it("does the same for schedule:add's command, after its SCHEDULE", () => {
    assert.deepEqual(separateRunCommand(['schedule:add', '@daily', '-a', 'shop', 'ls', '-la']), ['schedule:add', '@daily', '-a', 'shop', '--', 'ls', '-la']);
    assert.deepEqual(
      separateRunCommand(['schedule:add', '--tz', 'UTC', '*/5 * * * *', '--timeout', '1m', 'rake', '--trace', '-a', 'shop']),
      ['schedule:add', '--tz', 'UTC', '*/5 * * * *', '--timeout', '1m', '-a', 'shop', '--', 'rake', '--trace'],
    );
    assert.deepEqual(separateRunCommand(['schedule:add', '@daily', '-a', 'shop', 'backup', '--timeout', '5m']), ['schedule:add', '@daily', '-a', 'shop', '--', 'backup', '--timeout', '5m']);
  });
});
