import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findProcfile, MAX_PROCFILE_PROBLEMS, parseProcfile, ProcfileError, procfileProblems } from '../../lib/procfile';

describe('parseProcfile: files Heroku and Foreman accept', () => {
  const cases: Array<{ name: string; text: string; types: Array<[string, string]> }> = [
    {
      name: 'a Rails app with a release phase',
      text: 'web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq -C config/sidekiq.yml\nrelease: bin/rails db:migrate\n',
      types: [
        ['web', 'bundle exec puma -C config/puma.rb'],
        ['worker', 'bundle exec sidekiq -C config/sidekiq.yml'],
        ['release', 'bin/rails db:migrate'],
      ],
    },
    {
      name: 'colons in the command stay in the command',
      text: 'web: gunicorn app:app --bind 0.0.0.0:$PORT',
      types: [['web', 'gunicorn app:app --bind 0.0.0.0:$PORT']],
    },
    {
      name: '$VAR and ${VAR} are left for the shell',
      text: 'web: node server.js --port ${PORT:-5000} --env $NODE_ENV',
      types: [['web', 'node server.js --port ${PORT:-5000} --env $NODE_ENV']],
    },
    {
      name: 'Windows line endings and a UTF-8 BOM',
      text: '\uFEFFweb: node index.js\r\nworker: node worker.js\r\n',
      types: [
        ['web', 'node index.js'],
        ['worker', 'node worker.js'],
      ],
    },
    {
      name: 'comments, blank lines and indentation',
      text: '# Procfile for the shop\n\n  web: node web.js  \n\t# background jobs\n\nworker: node worker.js\n\n',
      types: [
        ['web', 'node web.js'],
        ['worker', 'node worker.js'],
      ],
    },
    {
      name: 'spaces or a tab around the colon',
      text: 'web : node web.js\nworker:\tnode worker.js\nclock  :  node clock.js',
      types: [
        ['web', 'node web.js'],
        ['worker', 'node worker.js'],
        ['clock', 'node clock.js'],
      ],
    },
    {
      name: 'shell pipelines, redirections and a # inside the command',
      text: 'web: cd app && exec node index.js 2>&1 | tee -a log # keep a copy\nping: echo "#1"',
      types: [
        ['web', 'cd app && exec node index.js 2>&1 | tee -a log # keep a copy'],
        ['ping', 'echo "#1"'],
      ],
    },
    {
      name: 'type names with digits, dashes, underscores and capitals',
      text: 'worker-2: a\nclock_1: b\nWeb: c\nweb: d',
      types: [
        ['worker-2', 'a'],
        ['clock_1', 'b'],
        ['Web', 'c'],
        ['web', 'd'],
      ],
    },
    {
      name: 'a release phase script and a Python app (Heroku getting-started forms)',
      text: 'release: ./release-tasks.sh\nweb: gunicorn gettingstarted.wsgi --log-file -\n',
      types: [
        ['release', './release-tasks.sh'],
        ['web', 'gunicorn gettingstarted.wsgi --log-file -'],
      ],
    },
    {
      name: 'no space after the colon (Foreman: `:\\s*`)',
      text: 'web:node web.js\nworker:bundle exec sidekiq',
      types: [
        ['web', 'node web.js'],
        ['worker', 'bundle exec sidekiq'],
      ],
    },
    {
      name: 'tabs on both sides of the colon',
      text: 'web\t:\tnode web.js\t\n',
      types: [['web', 'node web.js']],
    },
    {
      name: 'quotes and env assignments are kept for the shell',
      text: `web: env RACK_ENV=production "bin/my server" --name 'a b'`,
      types: [['web', `env RACK_ENV=production "bin/my server" --name 'a b'`]],
    },
    {
      name: 'old Mac line endings',
      text: 'web: a\rworker: b',
      types: [
        ['web', 'a'],
        ['worker', 'b'],
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const types = parseProcfile(c.text);
      assert.deepEqual(Object.entries(types), c.types);
      assert.equal(Object.getPrototypeOf(types), Object.prototype);
    });
  }
});

describe('parseProcfile: files it rejects, naming the line', () => {
  const cases: Array<{ name: string; text: string; line: number; message: string }> = [
    {
      name: 'a line without a colon',
      text: 'web: node web.js\n# workers\nfoo bar\n',
      line: 3,
      message: 'Procfile line 3: expected `type: command`, got `foo bar`',
    },
    {
      name: 'a line with no type before the colon',
      text: ': node web.js',
      line: 1,
      message: 'Procfile line 1: expected `type: command`, got `: node web.js`',
    },
    {
      name: 'an empty command',
      text: 'web: node web.js\nworker:   \n',
      line: 2,
      message: 'Procfile line 2: process type `worker` has no command',
    },
    {
      name: 'YAML-style nesting',
      text: 'web:\n  command: node web.js',
      line: 1,
      message: 'Procfile line 1: process type `web` has no command',
    },
    {
      name: 'a space inside the type name',
      text: 'we b: node web.js',
      line: 1,
      message: 'Procfile line 1: invalid process type `we b`: use up to 63 letters, digits, `_` and `-`',
    },
    {
      name: 'a name every JavaScript object has (accepted, it read back wrong from a formation: scale did nothing)',
      text: '__proto__: sleep 1000',
      line: 1,
      message: 'Procfile line 1: process type `__proto__` is a reserved name: choose another',
    },
    {
      name: 'the type of one-off processes (its run.1 would be taken for `cluster run`\'s)',
      text: 'web: a\nrun: b',
      line: 2,
      message: "Procfile line 2: process type `run` names `cluster run`'s one-off processes (run.1, run.2 …): choose another name",
    },
    {
      name: 'a dot in the type name (it would clash with instance names like web.1)',
      text: 'web.1: node web.js',
      line: 1,
      message: 'Procfile line 1: invalid process type `web.1`: use up to 63 letters, digits, `_` and `-`',
    },
    {
      name: 'a type defined twice',
      text: 'web: a\nworker: b\n\n# again\nweb: c\n',
      line: 5,
      message: 'Procfile line 5: process type `web` is already defined on line 1',
    },
    {
      name: 'line numbers count CRLF lines and ignore the BOM',
      text: '\uFEFF# x\r\nweb: a\r\nbroken\r\n',
      line: 3,
      message: 'Procfile line 3: expected `type: command`, got `broken`',
    },
    {
      name: 'a long garbage line, quoted only in part',
      text: 'x'.repeat(5000),
      line: 1,
      message: `Procfile line 1: expected \`type: command\`, got \`${'x'.repeat(79)}…\``,
    },
    {
      name: 'a command continued with a backslash (each line stands alone)',
      text: 'web: bundle exec puma \\\n  -C config/puma.rb\n',
      line: 2,
      message: 'Procfile line 2: expected `type: command`, got `-C config/puma.rb`',
    },
    {
      name: 'a type without a colon (Heroku\'s `:?` would take it; Foreman skips it)',
      text: 'web node web.js',
      line: 1,
      message: 'Procfile line 1: expected `type: command`, got `web node web.js`',
    },
    {
      name: 'a type name in another script',
      text: 'wörker: node worker.js',
      line: 1,
      message: 'Procfile line 1: invalid process type `wörker`: use up to 63 letters, digits, `_` and `-`',
    },
    {
      name: 'a NUL byte in a command (no process could be started with it)',
      text: 'web: node web.js\nworker: echo \0hi; sleep 100\n',
      line: 2,
      message: 'Procfile line 2: the command of process type `worker` has a NUL byte (character 6), which no process can be started with: remove it',
    },
    { name: 'an empty file', text: '', line: 0, message: 'Procfile declares no process types' },
    {
      name: 'only comments and blank lines',
      text: '# nothing yet\n\n   \n',
      line: 0,
      message: 'Procfile declares no process types',
    },
  ];

  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      assert.throws(
        () => parseProcfile(c.text),
        (err: unknown) => {
          assert.ok(err instanceof ProcfileError);
          assert.equal(err.message, c.message);
          assert.equal(err.line, c.line);
          return true;
        },
      );
    });
  }
});

describe('procfileProblems: every bad line, and the types of the good ones', () => {
  it('lists each bad line once, in order, with the good types', () => {
    const { types, errors } = procfileProblems('\uFEFFweb: node web.js\r\noops\r\nworker:\r\nclock: sh c.sh\r\nweb: again\r\n');
    assert.deepEqual(types, { web: 'node web.js', clock: 'sh c.sh' });
    assert.deepEqual(
      errors.map((e) => [e.line, e.message]),
      [
        [2, 'Procfile line 2: expected `type: command`, got `oops`'],
        [3, 'Procfile line 3: process type `worker` has no command'],
        [5, 'Procfile line 5: process type `web` is already defined on line 1'],
      ],
    );
  });

  it('a good file has no problems', () => {
    assert.deepEqual(procfileProblems('web: a\n'), { types: { web: 'a' }, errors: [], omitted: 0 });
  });

  it('names the first bad lines of a pasted binary and counts the rest, in one pass', () => {
    // 32,000 bad lines (64 KB, the size limit): re-parsing once per bad line took minutes.
    const text = 'x\n'.repeat(32_000);
    const started = process.hrtime.bigint();
    const { errors, omitted } = procfileProblems(text);
    assert.deepEqual(errors.map((e) => e.line), Array.from({ length: MAX_PROCFILE_PROBLEMS }, (_, i) => i + 1));
    assert.equal(omitted, 32_000 - MAX_PROCFILE_PROBLEMS);
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2_000, 'linear in the lines');
  });

  it('a file whose every line is bad ends with those lines, not with "declares no process types"', () => {
    const { types, errors } = procfileProblems('a\nb\n');
    assert.deepEqual(types, {});
    assert.deepEqual(errors.map((e) => e.line), [1, 2]);
  });

  it('a problem of the whole file is the only one', () => {
    const { errors } = procfileProblems('# nothing\n');
    assert.deepEqual(errors.map((e) => [e.line, e.message]), [[0, 'Procfile declares no process types']]);
  });
});

describe('findProcfile', () => {
  const cases: Array<{ name: string; files: string[]; env?: string; expected: string | undefined }> = [
    { name: 'Procfile without an environment', files: ['package.json', 'Procfile'], expected: 'Procfile' },
    { name: 'no Procfile at all', files: ['package.json'], expected: undefined },
    { name: 'ignores variants without an environment', files: ['Procfile.dev'], expected: undefined },
    { name: 'Procfile.<env> for an environment', files: ['Procfile', 'Procfile.staging'], env: 'staging', expected: 'Procfile.staging' },
    { name: 'Procfile_<env> for an environment', files: ['Procfile', 'Procfile_staging'], env: 'staging', expected: 'Procfile_staging' },
    {
      name: 'Procfile.<env> over Procfile_<env> when both exist',
      files: ['Procfile_staging', 'Procfile.staging'],
      env: 'staging',
      expected: 'Procfile.staging',
    },
    { name: 'does not fall back to Procfile when the variant is missing', files: ['Procfile', 'Procfile.dev'], env: 'prod', expected: undefined },
    { name: 'names are case-sensitive, as on Heroku', files: ['procfile'], expected: undefined },
  ];

  for (const c of cases) {
    it(c.name, () => assert.equal(findProcfile(c.files, c.env), c.expected));
  }
});
