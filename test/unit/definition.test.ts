import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { composeProcfileText, locateDefinition, readDefinition } from '../../cli/definition';
import { UserError } from '../../cli/errors';
import { parseProcfile } from '../../lib/procfile';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-definition-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

let count = 0;
/** A fresh app directory holding `files`. */
function appDir(files: Record<string, string | Uint8Array>): string {
  const dir = path.join(root, `app-${++count}`);
  fs.mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

function userError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected a UserError, got ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

describe('readDefinition: which file', () => {
  it('reads the Procfile', () => {
    const dir = appDir({ Procfile: 'web: node web.js\nworker: node worker.js\n', 'package.json': '{}' });
    assert.deepEqual(readDefinition(dir), {
      name: 'Procfile',
      procfileText: 'web: node web.js\nworker: node worker.js\n',
      types: { web: 'node web.js', worker: 'node worker.js' },
      warnings: [],
    });
  });

  it('reads Procfile.<env> with --env', () => {
    const dir = appDir({ Procfile: 'web: a', 'Procfile.staging': 'web: b' });
    assert.equal(readDefinition(dir, 'staging').types.web, 'b');
  });

  it('reads Procfile_<env> with --env (Cloud 66 spelling)', () => {
    const dir = appDir({ Procfile: 'web: a', Procfile_production: 'web: c' });
    assert.deepEqual(readDefinition(dir, 'production').name, 'Procfile_production');
  });

  it('prefers Procfile.<env> when both spellings exist', () => {
    const dir = appDir({ 'Procfile.staging': 'web: dot', Procfile_staging: 'web: underscore' });
    assert.equal(readDefinition(dir, 'staging').types.web, 'dot');
    assert.deepEqual(locateDefinition(dir, 'staging').unused, ['Procfile_staging']);
  });

  it('does not fall back to Procfile when --env names a missing variant', () => {
    const dir = appDir({ Procfile: 'web: a', 'Procfile.dev': 'web: d' });
    userError(
      () => readDefinition(dir, 'prod'),
      `no Procfile.prod or Procfile_prod in ${dir} (Procfile is used only without --env): add one, or deploy without --env prod`,
    );
  });

  it('ignores Procfile variants without --env', () => {
    const dir = appDir({ 'Procfile.dev': 'web: d' });
    userError(
      () => readDefinition(dir),
      `no Procfile (or docker-compose.yml) in ${dir}: add one with a \`type: command\` line per process type`,
    );
  });

  it('reads a compose file when there is no Procfile', () => {
    const dir = appDir({ 'docker-compose.yml': 'version: "3"\nservices:\n  web:\n    build: .\n    command: node web.js\n' });
    const definition = readDefinition(dir);
    assert.equal(definition.name, 'docker-compose.yml');
    assert.deepEqual(definition.types, { web: 'node web.js' });
    assert.match(definition.procfileText, /^web: node web\.js$/m);
  });

  for (const name of ['docker-compose.yaml', 'compose.yml', 'compose.yaml']) {
    it(`reads ${name} too`, () => {
      const dir = appDir({ [name]: 'services:\n  worker:\n    build: .\n    command: ["node", "worker.js"]\n' });
      assert.deepEqual(readDefinition(dir), {
        name,
        procfileText: `# From ${name}: each service that runs here is a process type.\nworker: node worker.js\n`,
        types: { worker: 'node worker.js' },
        warnings: [
          `${name} line 2: service \`worker\` builds \`.\` but there is no Dockerfile: its ENTRYPOINT and WORKDIR are not known; it runs its \`command\` from the app's root`,
        ],
        firstFormation: { worker: 1 },
      });
    });
  }

  it('starts each compose service once on the first deploy, or as its replicas say, never the release phase', () => {
    const dir = appDir({ 'docker-compose.yml': 'services:\n  web:\n    command: a\n  worker:\n    command: b\n    deploy: {replicas: 3}\n  release:\n    command: c\n  db:\n    image: postgres\n' });
    assert.deepEqual(readDefinition(dir).firstFormation, { web: 1, worker: 3 });
    assert.equal(readDefinition(appDir({ Procfile: 'web: a\n' })).firstFormation, undefined);
  });

  it('uses the Procfile when a compose file is there too', () => {
    const dir = appDir({ Procfile: 'web: from-procfile', 'docker-compose.yml': 'services:\n  web:\n    build: .\n    command: from-compose\n' });
    assert.deepEqual(readDefinition(dir).types, { web: 'from-procfile' });
    assert.deepEqual(locateDefinition(dir).unused, ['docker-compose.yml']);
  });

  it('says what to add when there is nothing', () => {
    const dir = appDir({ 'index.js': '' });
    userError(
      () => readDefinition(dir),
      `no Procfile (or docker-compose.yml) in ${dir}: add one with a \`type: command\` line per process type`,
    );
  });

  it('does not take a directory named Procfile for a Procfile', () => {
    const dir = appDir({});
    fs.mkdirSync(path.join(dir, 'Procfile'));
    userError(
      () => readDefinition(dir),
      `no Procfile (or docker-compose.yml) in ${dir}: add one with a \`type: command\` line per process type`,
    );
  });

  it('refuses a path that is not a directory', () => {
    const file = path.join(appDir({ x: '' }), 'x');
    userError(() => readDefinition(file), `${file} is not a directory`);
  });
});

describe('readDefinition: errors name the file and the line or service', () => {
  it('a malformed Procfile line', () => {
    const dir = appDir({ Procfile: 'web: a\nnonsense\n' });
    userError(() => readDefinition(dir), 'Procfile line 2: expected `type: command`, got `nonsense`');
  });

  it('every malformed Procfile line at once, in file order', () => {
    const dir = appDir({ Procfile: 'web node a.js\nworker: w\n: y\nworker: again\n' });
    userError(
      () => readDefinition(dir),
      [
        'Procfile line 1: expected `type: command`, got `web node a.js`',
        'Procfile line 3: expected `type: command`, got `: y`',
        'Procfile line 4: process type `worker` is already defined on line 2',
      ].join('\n'),
    );
  });

  it('at most 20 bad lines named, then how many more', () => {
    const dir = appDir({ Procfile: 'oops\n'.repeat(25) });
    assert.throws(() => readDefinition(dir), (err: unknown) => {
      const lines = (err as Error).message.split('\n');
      assert.equal(lines.length, 21);
      assert.equal(lines[19], 'Procfile line 20: expected `type: command`, got `oops`');
      assert.equal(lines[20], '… and 5 more bad lines');
      return err instanceof UserError;
    });
  });

  it('a malformed line in a variant, under its own name', () => {
    const dir = appDir({ 'Procfile.staging': '\n\nweb:\n' });
    userError(() => readDefinition(dir, 'staging'), 'Procfile.staging line 3: process type `web` has no command');
  });

  it('an empty variant', () => {
    const dir = appDir({ Procfile_ci: '# nothing\n' });
    userError(() => readDefinition(dir, 'ci'), 'Procfile_ci declares no process types');
  });

  it('a compose file with only backing services', () => {
    const dir = appDir({ 'compose.yaml': 'services:\n  db:\n    image: postgres:16\n' });
    userError(
      () => readDefinition(dir),
      'compose.yaml has only backing services (db: postgres:16): add a service that builds the app (`build: .`) or has a `command`',
    );
  });

  it('a Dockerfile without CMD for a service without a command', () => {
    const dir = appDir({ 'compose.yaml': 'services:\n  web:\n    build: .\n', Dockerfile: 'FROM node:20\nCOPY . /app\n' });
    userError(
      () => readDefinition(dir),
      'compose.yaml line 2: service `web` has no `command`, and Dockerfile has no CMD or ENTRYPOINT (the image starts at Dockerfile line 1, `FROM node:20`): add `CMD ["program", "arg"]` to Dockerfile or a `command` to the service',
    );
  });
});

describe('readDefinition: only files of the deployed directory', () => {
  for (const env of ['../Procfile', 'x/../../Procfile', '', '.hidden', 'a b']) {
    it(`refuses --env ${JSON.stringify(env)}, which names no Procfile variant of the directory`, () => {
      const dir = appDir({ Procfile: 'web: a' });
      userError(
        () => readDefinition(dir, env),
        `--env ${JSON.stringify(env)}: an environment name is 1–63 letters, digits, dots, dashes and underscores, starting with a letter or digit; it picks Procfile.NAME (or Procfile_NAME) in the deployed directory`,
      );
    });
  }

  it('refuses a Procfile, a variant or a compose file that links outside the directory, naming where', () => {
    const outside = path.join(root, 'shared-Procfile');
    fs.writeFileSync(outside, 'web: outside\n');
    for (const [name, env] of [['Procfile', undefined], ['Procfile.staging', 'staging'], ['compose.yaml', undefined]] as const) {
      const dir = appDir({});
      fs.symlinkSync('../shared-Procfile', path.join(dir, name));
      userError(
        () => readDefinition(dir, env),
        `${name} links to ${outside}, outside the deployed directory ${dir}: deploy sends links, not what they point to; copy the file into the directory (a link to a file inside it is fine)`,
      );
    }
  });

  it('refuses a Dockerfile reached through a folder that links outside', () => {
    fs.mkdirSync(path.join(root, 'shared-docker'), { recursive: true });
    fs.writeFileSync(path.join(root, 'shared-docker', 'Dockerfile'), 'FROM node:20\nCMD ["node", "x.js"]\n');
    const dir = appDir({ 'compose.yaml': 'services:\n  web:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n' });
    fs.symlinkSync('../shared-docker', path.join(dir, 'docker'));
    assert.throws(() => readDefinition(dir), (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.match(err.message, /docker\/Dockerfile links to .*shared-docker\/Dockerfile, outside the deployed directory /);
      return true;
    });
  });

  it('reads a Procfile that links to a file inside the directory', () => {
    const dir = appDir({ 'Procfile.prod': 'web: prod\n' });
    fs.symlinkSync('Procfile.prod', path.join(dir, 'Procfile'));
    assert.equal(readDefinition(dir).types.web, 'prod');
  });
});

describe('readDefinition: only UTF-8 text', () => {
  // `café` in Latin-1: é is the one byte 0xe9, which UTF-8 would quietly decode as U+FFFD.
  const latin1 = (text: string) => Buffer.from(text, 'latin1');

  it('refuses a Procfile that is not UTF-8, naming the line and the byte', () => {
    const dir = appDir({ Procfile: latin1('web: node web.js\nworker: echo café\n') });
    userError(() => readDefinition(dir), 'Procfile line 2: byte 17 (0xe9, byte 34 of the file) is not UTF-8: save the file as UTF-8');
  });

  it('refuses a variant, under its own name, and a compose file', () => {
    userError(
      () => readDefinition(appDir({ 'Procfile.staging': latin1('web: é') }), 'staging'),
      'Procfile.staging line 1: byte 6 (0xe9, byte 6 of the file) is not UTF-8: save the file as UTF-8',
    );
    userError(
      () => readDefinition(appDir({ 'compose.yaml': latin1('services:\r\n  web:\r\n    command: é\r\n') })),
      'compose.yaml line 3: byte 14 (0xe9, byte 33 of the file) is not UTF-8: save the file as UTF-8',
    );
  });

  it('says a UTF-16 file (Windows "Unicode") is UTF-16', () => {
    const dir = appDir({ Procfile: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('web: a\n', 'utf16le')]) });
    userError(() => readDefinition(dir), 'Procfile is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8');
  });

  it("refuses a Dockerfile that is not UTF-8 as its service's error", () => {
    const dir = appDir({ 'compose.yaml': 'services:\n  web:\n    build: .\n', Dockerfile: latin1('FROM node:20\nCMD ["echo", "é"]\n') });
    assert.throws(() => readDefinition(dir), (err: unknown) => {
      assert.ok(err instanceof UserError, String(err));
      assert.match(err.message, /Dockerfile line 2: byte 15 \(0xe9, byte 28 of the file\) is not UTF-8: save the file as UTF-8/);
      return true;
    });
  });

  it('reads UTF-8 (and its BOM) as before', () => {
    const dir = appDir({ Procfile: '\uFEFFweb: echo café ☕ 🚀\n' });
    assert.equal(readDefinition(dir).types.web, 'echo café ☕ 🚀');
  });
});

describe('readDefinition: compose read as Convox reads it', () => {
  it('deploys the rest of a file with an image-only service, with a warning', () => {
    const dir = appDir({
      'compose.yaml': 'services:\n  web:\n    build: .\n  db:\n    image: postgres:16\n',
      Dockerfile: 'FROM node:20\nWORKDIR /app\nCOPY . .\nCMD ["npm", "start"]\n',
    });
    const definition = readDefinition(dir);
    assert.deepEqual(definition.types, { web: 'npm start' });
    assert.deepEqual(definition.warnings, [
      'compose.yaml line 4: service `db` only names an image (postgres:16): a backing service, not deployed here; run it elsewhere and give the app its address with `cluster config:set`',
    ]);
  });

  it('a compose file that is not YAML', () => {
    const dir = appDir({ 'docker-compose.yml': 'services:\n  web: [\n' });
    assert.throws(() => readDefinition(dir), (err: unknown) => err instanceof UserError && /^docker-compose\.yml line \d+: not valid YAML: /.test(err.message));
  });
});

describe('compose → Procfile round trip', () => {
  const compose = [
    'services:',
    '  web:',
    '    build: .',
    `    command: ["bundle", "exec", "puma", "-b", "tcp://0.0.0.0:\${PORT}", "--tag", "it's a \\"test\\""]`,
    '  worker:',
    '    build: .',
    '    entrypoint: ["/usr/bin/env", "A=1 2"]',
    '    command: sidekiq -q "default queue" -q low',
    '  echo:',
    '    build: .',
    `    command: ["printf", "[%s]\\\\n", "a  b", "", "$$HOME", "#hash", "x;y|z&&w", "\${GREETING}"]`,
    '  clock:',
    '    build: .',
    '    command: "  node clock.js  "',
    '',
  ].join('\n');

  it('parseProcfile reads the synthesised Procfile back to the same types', () => {
    const dir = appDir({ 'docker-compose.yml': compose });
    const definition = readDefinition(dir);
    assert.deepEqual(Object.keys(definition.types), ['web', 'worker', 'echo', 'clock']);
    assert.deepEqual(parseProcfile(definition.procfileText), definition.types);
    assert.deepEqual(parseProcfile(composeProcfileText(definition.types, 'x')), definition.types);
    assert.equal(definition.types.clock, 'node clock.js');
    assert.equal(definition.types.worker, `/usr/bin/env 'A=1 2' sidekiq -q "default queue" -q low`);
  });

  it('the command from the Procfile runs the list argv exactly, variables expanded at run time', () => {
    const dir = appDir({ 'docker-compose.yml': compose });
    const command = parseProcfile(readDefinition(dir).procfileText).echo!;
    const out = execFileSync('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH, GREETING: 'hi  there', HOME: '/nowhere' } });
    assert.deepEqual(out.toString().trimEnd().split('\n'), ['[a  b]', '[]', '[$HOME]', '[#hash]', '[x;y|z&&w]', '[hi  there]']);
  });
});
