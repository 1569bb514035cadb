import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { checkDotenv, checkProcfile, formatCheck, runChecks, type CheckResult } from '../../cli/doctor/checks';
import { commandPrograms } from '../../cli/doctor/programs';
import { readDefinition } from '../../cli/definition';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-doctor-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

// A PATH of our own, so what is "found on PATH" does not depend on the machine.
const binDir = path.join(root, 'bin');
fs.mkdirSync(binDir);
for (const program of ['node', 'bundle', 'sh', 'python3']) fs.writeFileSync(path.join(binDir, program), '#!/bin/sh\n', { mode: 0o755 });
const PATH_ENV = binDir;

let count = 0;
/** A fresh app directory; a file whose content starts with `#!` is made executable. */
function appDir(files: Record<string, string | Uint8Array>): string {
  const dir = path.join(root, `app-${++count}`);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text, { mode: typeof text === 'string' && text.startsWith('#!') ? 0o755 : 0o644 });
  }
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function lines(results: CheckResult[]): string[] {
  return results.map(formatCheck);
}

describe('cluster doctor checks', () => {
  it('passes a good Procfile app, one line per check', () => {
    const dir = appDir({
      Procfile: '# the shop\nweb: bundle exec puma -C config/puma.rb\nworker: cd app && exec node worker.js 2>&1\nrelease: ./bin/release\n',
      'app/worker.js': '',
      'bin/release': '#!/bin/sh\n',
      '.env': 'DATABASE_URL=postgres://secret@db/shop\nexport SECRET="hunter2"\n',
    });
    assert.deepEqual(lines(runChecks(dir, { pathEnv: PATH_ENV })), [
      `✓ Procfile found in ${dir}`,
      '✓ Procfile parses: 2 process types (web, worker, with a release command)',
      '✓ process type web: bundle exec puma -C config/puma.rb',
      '✓ process type worker: cd app && exec node worker.js 2>&1',
      '✓ release command: ./bin/release',
      `✓ web: \`bundle\` found on PATH (${binDir}/bundle)`,
      `✓ worker: \`node\` found on PATH (${binDir}/node), and its script \`worker.js\``,
      '✓ release: `./bin/release` found in the directory',
      '· process type web is present',
      '✓ .env parses: 2 variables (DATABASE_URL, SECRET)',
    ]);
  });

  it('never prints .env values', () => {
    const dir = appDir({ Procfile: 'web: node x.js', 'x.js': '', '.env': 'TOKEN=hunter2\nPORT=1234\n' });
    const output = lines(runChecks(dir, { pathEnv: PATH_ENV })).join('\n');
    assert.doesNotMatch(output, /hunter2|1234/);
  });

  it('lists every bad Procfile line with ✗ and still checks the good ones', () => {
    const dir = appDir({ Procfile: 'web: node web.js\nworker node worker.js\nclock:\nweb: again\nbad.type: x\n', 'web.js': '' });
    const results = runChecks(dir, { pathEnv: PATH_ENV });
    assert.deepEqual(lines(results), [
      `✓ Procfile found in ${dir}`,
      '✗ Procfile line 2: expected `type: command`, got `worker node worker.js`',
      '✗ Procfile line 3: process type `clock` has no command',
      '✗ Procfile line 4: process type `web` is already defined on line 1',
      '✗ Procfile line 5: invalid process type `bad.type`: use up to 63 letters, digits, `_` and `-`',
      '✓ process type web: node web.js',
      `✓ web: \`node\` found on PATH (${binDir}/node), and its script \`web.js\``,
      '· no .env',
    ]);
  });

  it('warns, without failing, about programs and scripts it cannot find', () => {
    const dir = appDir({
      Procfile: [
        'api: gunicorn app:app',
        'worker: python3 worker.py',
        'clock: ./clock',
        'job: job.sh',
        'dyn: $SERVER --port $PORT',
        'release: /nonexistent/bin/migrate',
      ].join('\n'),
      clock: 'not executable',
      'job.sh': '#!/bin/sh\n',
    });
    const results = runChecks(dir, { pathEnv: PATH_ENV });
    assert.deepEqual(
      lines(results.filter((r) => r.status !== 'ok')),
      [
        "! api: `gunicorn` not found in the directory or on this machine's PATH: the servers that run api need it",
        `! worker: \`python3\` found on PATH (${binDir}/python3), but its script \`worker.py\` is not found in the directory`,
        '! clock: `./clock` in the directory is not executable: run `chmod +x clock`',
        '! job: `job.sh` is in the directory, but the shell looks for it on PATH: write `./job.sh`',
        '· dyn: `$SERVER` is known only at run time; not checked',
        '! release: `/nonexistent/bin/migrate` is not found on this machine',
        '· no process type web (fine for an app that serves no HTTP)',
        '· no .env',
      ],
    );
    assert.ok(results.every((r) => r.status !== 'fail'));
  });

  it('fails when there is no definition file, and still checks .env', () => {
    const dir = appDir({ '.env': 'A=1\nnot an assignment\n' });
    assert.deepEqual(lines(runChecks(dir, { pathEnv: PATH_ENV })), [
      `✗ no Procfile (or docker-compose.yml) in ${dir}: add one with a \`type: command\` line per process type`,
      '✗ .env line 2: expected `KEY=value`, got `not an assignment`',
    ]);
  });

  it('with --env, checks the variant and names what it did not use', () => {
    const dir = appDir({ Procfile: 'web: nope', 'Procfile.staging': 'web: node web.js', Procfile_staging: 'web: x', 'web.js': '' });
    assert.deepEqual(lines(runChecks(dir, { env: 'staging', pathEnv: PATH_ENV })).slice(0, 3), [
      `✓ Procfile.staging found in ${dir} (--env staging)`,
      '· Procfile_staging is not used: Procfile.staging is',
      '✓ Procfile.staging parses: 1 process type (web)',
    ]);
    assert.deepEqual(lines(runChecks(dir, { env: 'prod', pathEnv: PATH_ENV }))[0], `✗ no Procfile.prod or Procfile_prod in ${dir} (Procfile is used only without --env): add one, or deploy without --env prod`);
  });

  it('checks a compose-only directory service by service', () => {
    const dir = appDir({
      'docker-compose.yml': [
        'version: "3.8"',
        'services:',
        '  web:',
        '    build: .',
        '    command: ["node", "server.js"]',
        '    ports: ["3000:3000"]',
        '    deploy:',
        '      replicas: 2',
        '      resources: {limits: {cpus: "0.5"}}',
        '    environment:',
        '      NODE_ENV: production',
        '  db:',
        '    image: postgres:16',
        '',
      ].join('\n'),
      'docker-compose.override.yml': 'services: {}\n',
      'server.js': '',
    });
    const results = runChecks(dir, { pathEnv: PATH_ENV });
    assert.deepEqual(lines(results), [
      `✓ docker-compose.yml found in ${dir} (no Procfile)`,
      '· docker-compose.override.yml is not read: only docker-compose.yml declares process types',
      '✓ docker-compose.yml is valid: 2 services (web, db)',
      '✓ docker-compose.yml line 1: version 3.8 is supported',
      '✓ process type web (service on line 3): [ "${NODE_ENV+x}" ] || export NODE_ENV=production; node server.js',
      "! docker-compose.yml line 3: service `web` builds `.` but there is no Dockerfile: its ENTRYPOINT and WORKDIR are not known; it runs its `command` from the app's root",
      '· service web: environment NODE_ENV is a default; a config var of the same name overrides it',
      '· service web: ports, deploy.resources not used here (config comes from `cluster config:set`, the port from $PORT)',
      "· service web: web=2 on the app's first deploy (its replicas); after that, `cluster ps:scale web=N` sets it",
      '! docker-compose.yml line 12: service `db` only names an image (postgres:16): a backing service, not deployed here; run it elsewhere and give the app its address with `cluster config:set`',
      `✓ web: \`node\` found on PATH (${binDir}/node), and its script \`server.js\``,
      '· process type web is present',
      '· no .env',
    ]);
  });

  it('runs the Convox checks: Dockerfiles found, the CMD a service runs, and a Dockerfile without CMD (with its line)', () => {
    const dir = appDir({
      'docker-compose.yml': 'version: "2"\nservices:\n  web:\n    build: .\n  worker:\n    build:\n      context: .\n      dockerfile: Dockerfile.worker\n',
      Dockerfile: 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nCMD ["node", "server.js"]\n',
      'Dockerfile.worker': 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\n',
      'server.js': '',
    });
    const results = runChecks(dir, { pathEnv: PATH_ENV });
    assert.deepEqual(lines(results).slice(0, 8), [
      `✓ docker-compose.yml found in ${dir} (no Procfile)`,
      '✓ docker-compose.yml is valid: 2 services (web, worker)',
      '✓ docker-compose.yml line 1: version 2 is supported',
      '✓ Dockerfile found (built by web)',
      '✓ Dockerfile.worker found (built by worker)',
      '✓ process type web (service on line 3; Dockerfile line 4: CMD): node server.js',
      "· service web: web=1 on the app's first deploy (once, as `docker compose up` starts it); after that, `cluster ps:scale web=N` sets it",
      '✗ docker-compose.yml line 5: service `worker` has no `command`, and Dockerfile.worker has no CMD or ENTRYPOINT (the image starts at Dockerfile.worker line 1, `FROM node:20-alpine`): add `CMD ["program", "arg"]` to Dockerfile.worker or a `command` to the service',
    ]);
  });

  it('fails a compose service whose command, with its environment defaults, is larger than deploy takes', () => {
    const environment = Array.from({ length: 120 }, (_, i) => `      VAR_${i}: ${'x'.repeat(140)}`).join('\n');
    const dir = appDir({ 'docker-compose.yml': `services:\n  web:\n    command: node web.js\n    environment:\n${environment}\n`, 'web.js': '' });
    const failed = runChecks(dir, { pathEnv: PATH_ENV }).filter((r) => r.status === 'fail').map((r) => r.message);
    assert.equal(failed.length, 1, failed.join('\n'));
    assert.match(failed[0]!, /^docker-compose\.yml: .*the command of process type `web` is .*KiB.*\(its `environment:` defaults count: set large values with `cluster config:set` instead\)$/);
  });

  it('fails a compose file over the size deploy reads, as deploy does', () => {
    const dir = appDir({ 'docker-compose.yml': `services:\n  web:\n    command: node web.js\n${'#'.repeat(256 * 1024)}\n`, 'web.js': '' });
    const failed = runChecks(dir, { pathEnv: PATH_ENV }).filter((r) => r.status === 'fail').map((r) => r.message);
    assert.deepEqual(failed, [
      'docker-compose.yml is 256.1 KiB; at most 256 KiB is allowed: the CLI reads no larger compose file: put long commands in scripts, and services this app does not run in a compose file of their own',
    ]);
    assert.throws(() => readDefinition(dir), (err: unknown) => err instanceof Error && err.message === failed[0]);
  });

  it('fails a NUL byte in a Procfile command and in a compose environment value, naming the type and the variable', () => {
    const procfile = appDir({ Procfile: 'worker: echo \0hi; sleep 100\n' });
    assert.deepEqual(runChecks(procfile, { pathEnv: PATH_ENV }).filter((r) => r.status === 'fail').map((r) => r.message), [
      'Procfile line 1: the command of process type `worker` has a NUL byte (character 6), which no process can be started with: remove it',
    ]);
    const compose = appDir({ 'docker-compose.yml': 'services:\n  web:\n    command: sleep 100\n    environment: {NULLY: "a\\0b"}\n' });
    assert.deepEqual(runChecks(compose, { pathEnv: PATH_ENV }).filter((r) => r.status === 'fail').map((r) => r.message), [
      'docker-compose.yml line 2: service `web` has an `environment` value for NULLY with a NUL byte (character 2), which no process can be started with: remove it',
    ]);
    assert.throws(() => readDefinition(compose), /NULLY with a NUL byte/);
  });

  it('fails a compose file that is not YAML', () => {
    const dir = appDir({ 'compose.yaml': 'services:\n  web:\n\tcommand: x\n' });
    const results = runChecks(dir, { pathEnv: PATH_ENV });
    assert.equal(results[1]!.status, 'fail');
    assert.match(results[1]!.message, /^compose\.yaml line 3: not valid YAML: /);
  });

  it('mentions a compose file the Procfile shadows', () => {
    const dir = appDir({ Procfile: 'web: node web.js', 'web.js': '', 'compose.yml': 'services: {}\n' });
    assert.equal(formatCheck(runChecks(dir, { pathEnv: PATH_ENV })[1]!), '· compose.yml is not used: Procfile is');
  });

  it('fails a Procfile and a .env that are not UTF-8, naming the line and byte', () => {
    const dir = appDir({ Procfile: Buffer.from('web: echo \xe9\n', 'latin1'), '.env': Buffer.from('A=1\nB=\xff\n', 'latin1') });
    assert.deepEqual(lines(runChecks(dir, { pathEnv: PATH_ENV })), [
      `✓ Procfile found in ${dir}`,
      '✗ Procfile line 1: byte 11 (0xe9, byte 11 of the file) is not UTF-8: save the file as UTF-8',
      '✗ .env line 2: byte 3 (0xff, byte 7 of the file) is not UTF-8: save the file as UTF-8',
    ]);
  });

  it('checkProcfile counts an empty Procfile as a failure', () => {
    assert.deepEqual(lines(checkProcfile('Procfile', '# todo\n').results), ['✗ Procfile declares no process types']);
  });

  it('checkDotenv lists every bad .env line, not only the first, going on after a bad quoted value', () => {
    const dir = appDir({ '.env': 'A=1\nnot an assignment\n1BAD="two\nlines"\nB=2\nC="x" y\n=3\nD=4\nE=\'never closed\nF=5\n' });
    assert.deepEqual(lines(checkDotenv(dir)), [
      '✗ .env line 2: expected `KEY=value`, got `not an assignment`',
      '✗ .env line 3: invalid key `1BAD`: use letters, digits and underscores, not starting with a digit',
      '✗ .env line 6: unexpected `y` after the double-quoted value of C: put a comment after ` #`',
      '✗ .env line 7: expected `KEY=value`, got `=3`',
      '✗ .env line 9: the single-quoted value of E is never closed',
    ]);
  });

  it('checkDotenv names at most 20 bad lines and counts the rest', () => {
    const dir = appDir({ '.env': 'bad\n'.repeat(25) });
    const out = lines(checkDotenv(dir));
    assert.equal(out.length, 21);
    assert.equal(out[19], '✗ .env line 20: expected `KEY=value`, got `bad`');
    assert.equal(out[20], '✗ .env: 5 more bad lines not shown');
  });

  it('checkDotenv warns about platform variables and keys set twice', () => {
    const dir = appDir({ '.env': 'PORT=5000\nA=1\n\nA=2\n' });
    assert.deepEqual(lines(checkDotenv(dir)), [
      '✓ .env parses: 2 variables (PORT, A)',
      '! .env line 1: `PORT` is set by the platform for every instance and cannot be configured',
      '! .env line 4: A is set again (first on line 2); the later value wins',
    ]);
  });
});

describe('commandPrograms: the programs a command starts', () => {
  const cases: Array<[string, unknown[]]> = [
    ['bundle exec puma -C config/puma.rb', [{ program: 'bundle', cwd: '.' }]],
    ['./release-tasks.sh', [{ program: './release-tasks.sh', cwd: '.' }]],
    ['RAILS_ENV=production PORT=1 exec bin/rails server', [{ program: 'bin/rails', cwd: '.' }]],
    ['env -i A=1 node --max-old-space-size=512 dist/main.js', [{ program: 'node', script: 'dist/main.js', cwd: '.' }]],
    ['node -r dotenv/config server', [{ program: 'node', cwd: '.' }]],
    ['python3 -m http.server $PORT', [{ program: 'python3', cwd: '.' }]],
    ['sh -c "cd web && exec ./serve"', [{ program: 'sh', cwd: '.' }, { program: './serve', cwd: 'web' }]],
    ['cd app && node index.js 2>&1 | tee -a log.txt # trailing', [{ program: 'node', script: 'index.js', cwd: 'app' }, { program: 'tee', cwd: 'app' }]],
    ['cd $APP_DIR && ./run', [{ program: './run', cwd: undefined }]],
    ['"$BIN" serve', [{ dynamic: '$BIN' }]],
    ['echo $(date) > started; exec java -jar app.jar>log', [{ program: 'java', cwd: '.' }]],
    ['if test -f x; then ruby a.rb; fi', [{ program: 'ruby', script: 'a.rb', cwd: '.' }]],
    ["'/opt/my app/run' --flag", [{ program: '/opt/my app/run', cwd: '.' }]],
  ];
  for (const [command, expected] of cases) {
    it(command, () => assert.deepEqual(commandPrograms(command), expected));
  }
});

describe('cluster doctor on the command line', () => {
  const main = path.resolve(__dirname, '../../cli/main.js');

  it('prints one line per check and exits 0 for a good directory, 1 for a bad one', () => {
    const good = appDir({ Procfile: 'web: node web.js\n', 'web.js': '' });
    const ok = spawnSync(process.execPath, [main, 'doctor', good], { encoding: 'utf8', env: { ...process.env, PATH: `${PATH_ENV}${path.delimiter}${process.env.PATH}` } });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^✓ Procfile found in /m);
    assert.match(ok.stdout, /^✓ Procfile parses: 1 process type \(web\)$/m);

    const bad = appDir({ Procfile: 'web: node web.js\noops\n' });
    const failed = spawnSync(process.execPath, [main, 'doctor', bad], { encoding: 'utf8' });
    assert.equal(failed.status, 1, failed.stderr);
    assert.match(failed.stdout, /^✗ Procfile line 2: expected `type: command`, got `oops`$/m);

    const variant = spawnSync(process.execPath, [main, 'doctor', good, '--env', 'prod'], { encoding: 'utf8' });
    assert.equal(variant.status, 1);
    assert.match(variant.stdout, /^✗ no Procfile\.prod or Procfile_prod in /m);
  });
});
