/** `cluster run`'s command keeps its own options: a `--` goes before its first word (cli/run-args.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { separateRunCommand } from '../../cli/run-args';

describe('separateRunCommand', () => {
  it("gives the command's options to the command, not to run", () => {
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', 'ls', '-d', '/tmp']), ['run', '-a', 'shop', '--', 'ls', '-d', '/tmp']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', 'ls', '-la']), ['run', '-a', 'shop', '--', 'ls', '-la']);
    assert.deepEqual(separateRunCommand(['run', 'sh', '-c', 'echo hi', '-a', 'x']), ['run', '--', 'sh', '-c', 'echo hi', '-a', 'x']);
    assert.deepEqual(separateRunCommand(['run:detached', '--app', 'shop', 'rake', '--trace']), ['run:detached', '--app', 'shop', '--', 'rake', '--trace']);
  });

  it("keeps run's own options before the command, global ones included", () => {
    assert.deepEqual(
      separateRunCommand(['--server', 'h:1', 'run', '-d', '--no-tty', '--server', 'h:2', '-a', 'shop', 'echo', '-n']),
      ['--server', 'h:1', 'run', '-d', '--no-tty', '--server', 'h:2', '-a', 'shop', '--', 'echo', '-n'],
    );
    assert.deepEqual(separateRunCommand(['run', '--app=shop', 'ls', '-l']), ['run', '--app=shop', '--', 'ls', '-l']);
  });

  it('leaves a line that has its -- already, has no command, or is another command', () => {
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop', '--', 'ls', '-la']), ['run', '-a', 'shop', '--', 'ls', '-la']);
    assert.deepEqual(separateRunCommand(['run', '-a', 'shop']), ['run', '-a', 'shop']);
    assert.deepEqual(separateRunCommand(['run', '--help']), ['run', '--help']);
    assert.deepEqual(separateRunCommand(['ps', '-a', 'shop', 'web']), ['ps', '-a', 'shop', 'web']);
    assert.deepEqual(separateRunCommand(['schedule:add', '@daily', '-a', 'shop', '--', 'ls', '-d']), ['schedule:add', '@daily', '-a', 'shop', '--', 'ls', '-d']);
  });
});
