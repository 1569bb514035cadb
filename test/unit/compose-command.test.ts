import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { commandText, quoteComposeWord, unescapeDollars } from '../../lib/compose-command';

/** What `sh -c TEXT` passes as argv to a program: printf shows each argument in brackets. */
function argvOf(shellWords: string, env: Record<string, string> = {}): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '[%s]\\n' ${shellWords}`], { env: { PATH: process.env.PATH, ...env } }).toString();
  return out.trimEnd().split('\n').map((line) => line.slice(1, -1));
}

describe('commandText: a compose `command`/`entrypoint` as shell text', () => {
  it('takes a string as written, trimmed; absent, null, blank and [] mean none', () => {
    assert.equal(commandText('  npm start  ', 'command'), 'npm start');
    assert.equal(commandText(undefined, 'command'), undefined);
    assert.equal(commandText(null, 'command'), undefined);
    assert.equal(commandText('   ', 'command'), undefined);
    assert.equal(commandText([], 'entrypoint'), undefined);
  });

  it('quotes a list so the shell passes exactly that argv', () => {
    const text = commandText(['echo', 'two words', "it's", 'a*b', ''], 'command')!;
    assert.deepEqual(argvOf(text.replace(/^echo /, '')), ['two words', "it's", 'a*b', '']);
    assert.match(text, /^echo /);
  });

  it('leaves list variables to the shell, unsplit, and `$$` as a literal dollar', () => {
    const text = commandText(['echo', '$GREETING', 'cost: $$5', '${NAME:-anon}!'], 'command')!;
    assert.deepEqual(argvOf(text.replace(/^echo /, ''), { GREETING: 'hello there' }), ['hello there', 'cost: $5', 'anon!']);
  });

  it('refuses a list item that is not a string, and a value that is neither string nor list', () => {
    assert.throws(() => commandText(['sleep', 5], 'command'), { message: 'has a `command` list whose item 2 is not a string' });
    assert.throws(() => commandText({ a: 1 }, 'entrypoint'), { message: 'has a `entrypoint` that is neither a string nor a list of strings' });
    assert.throws(() => commandText(42, 'command'), { message: 'has a `command` that is neither a string nor a list of strings' });
  });
});

describe('unescapeDollars: `$$` in shell text', () => {
  it('becomes `\\$` outside quotes and in double quotes, `$` inside single quotes', () => {
    assert.equal(unescapeDollars('echo $$HOME'), 'echo \\$HOME');
    assert.equal(unescapeDollars('echo "$$HOME"'), 'echo "\\$HOME"');
    assert.equal(unescapeDollars("echo '$$HOME'"), "echo '$HOME'");
    assert.deepEqual(argvOf(unescapeDollars("$$A \"$$B\" '$$C'")), ['$A', '$B', '$C']);
  });

  it('keeps a single `$` and a backslash escape as written', () => {
    assert.equal(unescapeDollars('echo $HOME \\$$'), 'echo $HOME \\$$'); // `\$` is kept whole, so no `$$` follows
    assert.equal(unescapeDollars('a \\" $$ "b"'), 'a \\" \\$ "b"');
  });
});

describe('quoteComposeWord: one argv word', () => {
  it('wraps a word with a variable in double quotes, escaping the literal parts', () => {
    assert.equal(quoteComposeWord('$X-"`y`"', false), '"$X-\\"\\`y\\`\\""');
    assert.deepEqual(argvOf(quoteComposeWord('$X-"`y`"\\', false), { X: 'v' }), ['v-"`y`"\\']);
  });

  it('treats a `$` that starts no variable as a literal', () => {
    assert.deepEqual(argvOf(quoteComposeWord('$1 $ ${', false)), ['$1 $ ${']);
  });
});
