import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DotenvError, parseDotenv, parseDotenvEntries } from '../../lib/dotenv';

describe('parseDotenv: files it reads', () => {
  const cases: Array<{ name: string; text: string; vars: Array<[string, string]> }> = [
    {
      name: 'plain assignments, comments and blank lines',
      text: '# database\nDATABASE_URL=postgres://localhost/shop\n\nWEB_CONCURRENCY=2\n',
      vars: [
        ['DATABASE_URL', 'postgres://localhost/shop'],
        ['WEB_CONCURRENCY', '2'],
      ],
    },
    {
      name: '`export` in front, as for `source .env`',
      text: 'export RAILS_ENV=production\nexport\tSECRET_KEY_BASE=abc\n',
      vars: [
        ['RAILS_ENV', 'production'],
        ['SECRET_KEY_BASE', 'abc'],
      ],
    },
    {
      name: 'spaces around `=` and indentation',
      text: '  A = 1\nB= two words \n',
      vars: [
        ['A', '1'],
        ['B', 'two words'],
      ],
    },
    {
      name: 'single quotes are literal',
      text: `A='a $B \\n "c" # not a comment'\n`,
      vars: [['A', 'a $B \\n "c" # not a comment']],
    },
    {
      name: 'double quotes take \\n, \\t, \\" and \\\\ escapes',
      text: 'A="line1\\nline2\\tx \\"q\\" back\\\\slash \\$5 \\w"\n',
      vars: [['A', 'line1\nline2\tx "q" back\\slash $5 \\w']],
    },
    {
      name: 'a comment after a value needs a space before `#`',
      text: 'COLOR=#fff\nHASH=a#b\nPORT_X=5000 # the dev port\nQ="quoted" # comment\nEMPTY= # nothing\n',
      vars: [
        ['COLOR', '#fff'],
        ['HASH', 'a#b'],
        ['PORT_X', '5000'],
        ['Q', 'quoted'],
        ['EMPTY', ''],
      ],
    },
    {
      name: 'empty values',
      text: 'A=\nB=""\nC=\'\'\n',
      vars: [
        ['A', ''],
        ['B', ''],
        ['C', ''],
      ],
    },
    {
      name: 'values with `=` and colons',
      text: 'URL=redis://:p=w@host:6379/0?a=b\n',
      vars: [['URL', 'redis://:p=w@host:6379/0?a=b']],
    },
    {
      name: 'Windows line endings and a BOM',
      text: '\uFEFFA=1\r\nB="2"\r\n',
      vars: [
        ['A', '1'],
        ['B', '2'],
      ],
    },
    {
      name: 'a quoted value over several lines (a private key)',
      text: 'KEY="-----BEGIN KEY-----\nabc\n-----END KEY-----"\nNEXT=1\n',
      vars: [
        ['KEY', '-----BEGIN KEY-----\nabc\n-----END KEY-----'],
        ['NEXT', '1'],
      ],
    },
    {
      name: 'a later assignment wins',
      text: 'A=1\nA=2\n',
      vars: [['A', '2']],
    },
    {
      name: 'keys with underscores, digits and capitals; `${VAR}` is not expanded',
      text: '_X1=a\nlower_case=b\nREF=${_X1}\n',
      vars: [
        ['_X1', 'a'],
        ['lower_case', 'b'],
        ['REF', '${_X1}'],
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(Object.entries(parseDotenv(c.text)), c.vars));
  }

  it('gives the line each assignment starts on', () => {
    const entries = parseDotenvEntries('# x\nA=1\nB="two\nlines"\n\nC=3\n');
    assert.deepEqual(
      entries.map((e) => [e.key, e.line]),
      [
        ['A', 2],
        ['B', 3],
        ['C', 6],
      ],
    );
  });

  it('keeps a key named __proto__ as a key', () => {
    const vars = parseDotenv('__proto__=x\n');
    assert.equal(Object.getPrototypeOf(vars), Object.prototype);
    assert.deepEqual(Object.keys(vars), ['__proto__']);
  });
});

describe('parseDotenv: files it refuses, naming the line', () => {
  const cases: Array<{ name: string; text: string; line: number; message: string }> = [
    { name: 'a line without `=`', text: 'A=1\nJUSTAWORD\n', line: 2, message: '.env line 2: expected `KEY=value`, got `JUSTAWORD`' },
    { name: '`export` without a value', text: 'export A\n', line: 1, message: '.env line 1: expected `KEY=value`, got `export A`' },
    { name: 'no key before `=`', text: '\n=value\n', line: 2, message: '.env line 2: expected `KEY=value`, got `=value`' },
    {
      name: 'a key starting with a digit',
      text: '1A=x\n',
      line: 1,
      message: '.env line 1: invalid key `1A`: use letters, digits and underscores, not starting with a digit',
    },
    {
      name: 'a key with a dash or a dot',
      text: 'A=1\r\nMY-KEY=x\r\n',
      line: 2,
      message: '.env line 2: invalid key `MY-KEY`: use letters, digits and underscores, not starting with a digit',
    },
    {
      name: 'a key with a space',
      text: 'MY KEY=x\n',
      line: 1,
      message: '.env line 1: invalid key `MY KEY`: use letters, digits and underscores, not starting with a digit',
    },
    {
      name: 'a double quote never closed',
      text: 'A=1\nB="open\nC=3\n',
      line: 2,
      message: '.env line 2: the double-quoted value of B is never closed',
    },
    {
      name: 'a single quote never closed',
      text: "A='open\n",
      line: 1,
      message: '.env line 1: the single-quoted value of A is never closed',
    },
    {
      name: 'text after the closing quote',
      text: 'A="x" y\n',
      line: 1,
      message: '.env line 1: unexpected `y` after the double-quoted value of A: put a comment after ` #`',
    },
    {
      name: 'YAML-style `KEY: value`',
      text: 'A: 1\n',
      line: 1,
      message: '.env line 1: expected `KEY=value`, got `A: 1`',
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => parseDotenv(c.text),
        (err: unknown) => {
          assert.ok(err instanceof DotenvError);
          assert.equal(err.message, c.message);
          assert.equal(err.line, c.line);
          return true;
        },
      );
    });
  }
});
