/** `cluster config`'s lines: values shown unambiguously, and `-s` assignments a real shell reads back exactly. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { configTable, displayedValue, shellAssignments } from '../../cli/output/config-lines';

const VARS: Record<string, string> = {
  PLAIN: 'postgres://u@db:5432/shop?ssl=true',
  MULTI: 'line1\nline2',
  SPACES: ' padded ',
  QUOTES: `it's "quoted" $HOME \`x\` \\n`,
  EMPTY: '',
  TAB: 'a\tb',
  LSEP: 'a\u2028b',
};

describe('config lines', () => {
  it('shows a value as it is unless that is ambiguous, then as a JSON string', () => {
    assert.equal(displayedValue('postgres://u@db/shop'), 'postgres://u@db/shop');
    assert.equal(displayedValue('hello = world'), 'hello = world');
    assert.equal(displayedValue('line1\nline2'), '"line1\\nline2"');
    assert.equal(displayedValue('a\r\n'), '"a\\r\\n"');
    assert.equal(displayedValue(' padded'), '" padded"');
    assert.equal(displayedValue('"quoted"'), '"\\"quoted\\""', 'a value that looks like a JSON string is one');
    assert.equal(displayedValue('say "hi"'), 'say "hi"');
    assert.equal(displayedValue('a\u2028b'), '"a\\u2028b"');
    assert.equal(displayedValue(''), '');
    assert.equal(displayedValue('a\u007fb\u0085'), '"a\\u007fb\\u0085"');
  });

  it('prints every value on one line, aligned, keys sorted', () => {
    const lines = configTable({ MULTI: 'line1\nline2', A: 'x' });
    assert.deepEqual(lines, ['A:     x', 'MULTI: "line1\\nline2"']);
    for (const line of configTable(VARS)) assert.doesNotMatch(line, /[\n\r\u2028]/);
  });

  it('-s: assignments a POSIX shell reads back exactly', () => {
    const script = shellAssignments(VARS).join('\n');
    assert.match(script, /^PLAIN='postgres:\/\/u@db:5432\/shop\?ssl=true'$/m);
    assert.match(shellAssignments({ A: 'plain-word' })[0]!, /^A=plain-word$/);
    assert.match(script, /^EMPTY=''$/m);
    // Each value comes back byte for byte, as JSON from node.
    const program = `${script}\nexport ${Object.keys(VARS).join(' ')}\nexec "$0" -e 'process.stdout.write(JSON.stringify(process.env))'`;
    for (const shell of ['sh', 'bash']) {
      const env = JSON.parse(execFileSync(shell, ['-c', program, process.execPath], { env: { PATH: process.env.PATH } }).toString()) as Record<string, string>;
      for (const [key, value] of Object.entries(VARS)) assert.equal(env[key], value, `${shell}: ${key}`);
    }
  });
});
