/** Compose services that start as their Dockerfile says (CMD, ENTRYPOINT, WORKDIR), and environment defaults. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCompose, readComposeServices, type ComposeService } from '../../lib/compose';

/** Reads a compose file whose Dockerfiles are `files` (path → text). */
function read(compose: string, files: Record<string, string>): ComposeService[] {
  return readComposeServices(compose, 'docker-compose.yml', { readFile: (rel) => files[rel] });
}

function only(compose: string, files: Record<string, string>): ComposeService {
  const [service] = read(compose, files);
  assert.ok(service);
  return service;
}

const WEB = 'services:\n  web:\n    build: .\n';

describe('compose: a build without `command` runs the Dockerfile', () => {
  const cases: Array<{ name: string; dockerfile: string; compose?: string; command: string; source: string }> = [
    {
      name: 'the exec form of CMD (Convox example)',
      dockerfile: 'FROM node:20-alpine\nWORKDIR /app\nCOPY . .\nCMD ["npm", "start"]\n',
      command: 'npm start',
      source: 'Dockerfile line 4: CMD',
    },
    {
      name: 'the shell form of CMD, continued over lines',
      dockerfile: 'FROM python:3.12\nCOPY . /srv\nWORKDIR /srv\nCMD gunicorn app:app \\\n  --bind 0.0.0.0:$PORT\n',
      command: 'gunicorn app:app   --bind 0.0.0.0:$PORT',
      source: 'Dockerfile line 4: CMD',
    },
    {
      name: 'ENTRYPOINT and CMD combined, exec forms',
      dockerfile: 'FROM ruby\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["bundle", "exec"]\nCMD ["puma", "-C", "config/puma.rb"]\n',
      command: 'bundle exec puma -C config/puma.rb',
      source: 'Dockerfile line 4: ENTRYPOINT, line 5: CMD',
    },
    {
      name: 'an exec ENTRYPOINT with a shell-form CMD, as Docker passes it',
      dockerfile: 'FROM x\nENTRYPOINT ["tini", "--"]\nCMD node web.js\n',
      command: "tini -- /bin/sh -c 'node web.js'",
      source: 'Dockerfile line 2: ENTRYPOINT, line 3: CMD',
    },
    {
      name: "an exec ENTRYPOINT with the service's command",
      dockerfile: 'FROM x\nENTRYPOINT ["bundle", "exec"]\nCMD ["puma"]\n',
      compose: 'services:\n  worker:\n    build: .\n    command: sidekiq -q default\n',
      command: 'bundle exec sidekiq -q default',
      source: "Dockerfile line 2: ENTRYPOINT, and the service's `command`",
    },
    {
      name: 'the shell form of ENTRYPOINT, which takes no CMD',
      dockerfile: 'FROM x\nCMD ["ignored"]\nENTRYPOINT exec node server.js\n',
      command: 'exec node server.js',
      source: 'Dockerfile line 3: ENTRYPOINT',
    },
    {
      name: 'the last stage of a multi-stage build, inheriting from an earlier stage',
      dockerfile: 'FROM node AS base\nWORKDIR /app\nCOPY . .\nCMD ["node", "web.js"]\nFROM node AS test\nCMD ["npm", "test"]\nFROM base\nENV X=1\n',
      command: 'node web.js',
      source: 'Dockerfile line 4: CMD',
    },
    {
      name: 'the stage named by build.target, in a Dockerfile named by build.dockerfile',
      dockerfile: '',
      compose: 'services:\n  web:\n    build:\n      context: .\n      dockerfile: docker/web.Dockerfile\n      target: prod\n',
      command: 'node prod.js',
      source: 'docker/web.Dockerfile line 2: CMD',
    },
    {
      name: 'an empty `entrypoint` (`[]`) that drops the image\'s ENTRYPOINT, as Compose does',
      dockerfile: 'FROM node\nENTRYPOINT ["./docker-entrypoint.sh"]\nCMD ["node", "web.js"]\n',
      compose: 'services:\n  web:\n    build: .\n    entrypoint: []\n    command: ["node", "worker.js"]\n',
      command: 'node worker.js',
      source: 'the service',
    },
    {
      name: "an empty `command` (`''`) that drops the image's CMD: the ENTRYPOINT alone",
      dockerfile: 'FROM node\nENTRYPOINT ["node", "serve.js"]\nCMD ["--dev"]\n',
      compose: "services:\n  web:\n    build: .\n    command: ''\n",
      command: 'node serve.js',
      source: "Dockerfile line 2: ENTRYPOINT, and the service's `command`",
    },
    {
      name: 'a SHELL that runs the shell form',
      dockerfile: 'FROM x\nSHELL ["/bin/bash", "-c"]\nCMD echo $BASH_VERSION\n',
      command: "/bin/bash -c 'echo $BASH_VERSION'",
      source: 'Dockerfile line 3: CMD',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const files: Record<string, string> = { Dockerfile: c.dockerfile, 'docker/web.Dockerfile': 'FROM x AS prod\nCMD ["node", "prod.js"]\nFROM x AS dev\nCMD ["node", "dev.js"]\n' };
      const service = only(c.compose ?? WEB, files);
      assert.equal(service.error, undefined);
      assert.equal(service.command, c.command);
      assert.equal(service.source, c.source);
    });
  }

  it('starts in WORKDIR, relative to where the Dockerfile copies the app', () => {
    const service = only(WEB, { Dockerfile: 'FROM node\nARG HOME_DIR=/app\nWORKDIR ${HOME_DIR}\nCOPY . .\nWORKDIR web\nCMD ["node", "server.js"]\n' });
    assert.equal(service.command, 'cd web || exit 1; exec node server.js');
    assert.deepEqual(service.notes, ['starts in web/ (WORKDIR /app/web)']);
  });

  it('honours `working_dir` over WORKDIR', () => {
    const service = only('services:\n  web:\n    build: .\n    working_dir: /app/api\n', { Dockerfile: 'FROM node\nCOPY . /app\nWORKDIR /app\nCMD ["node", "x.js"]\n' });
    assert.equal(service.command, 'cd api || exit 1; exec node x.js');
  });

  it('warns, and runs the command from the root, when a built service with a command has no Dockerfile', () => {
    const service = only('services:\n  web:\n    build: .\n    command: node web.js\n', {});
    assert.equal(service.command, 'node web.js');
    assert.match(service.warnings[0]!, /line 2: service `web` builds `.` but there is no Dockerfile: its ENTRYPOINT and WORKDIR are not known/);
  });
});

describe('compose: Dockerfiles it refuses, naming the line', () => {
  const cases: Array<{ name: string; dockerfile: string; compose?: string; message: string }> = [
    {
      name: 'no CMD for a service without a command',
      dockerfile: 'FROM node:20\nWORKDIR /app\nCOPY . .\nRUN npm ci\n',
      message:
        'docker-compose.yml line 2: service `web` has no `command`, and Dockerfile has no CMD or ENTRYPOINT (the image starts at Dockerfile line 1, `FROM node:20`): add `CMD ["program", "arg"]` to Dockerfile or a `command` to the service',
    },
    {
      name: 'a CMD that looks like a list but is not JSON',
      dockerfile: "FROM node\nCMD ['npm', 'start']\n",
      message:
        "docker-compose.yml line 2: service `web` cannot start: Dockerfile line 2: CMD ['npm', 'start'] is not a valid JSON list (each word in double quotes), so Docker would run it as a shell command: write CMD [\"word\", \"word\"] or CMD word word",
    },
    {
      name: 'a WORKDIR outside the copied app',
      dockerfile: 'FROM node\nCOPY . /app\nWORKDIR /srv\nCMD ["node", "x.js"]\n',
      message:
        'docker-compose.yml line 2: service `web` would start in WORKDIR /srv of Dockerfile, outside /app, where Dockerfile line 2 copies the app: the process would not start in the app',
    },
    {
      name: 'a WORKDIR variable without a value',
      dockerfile: 'FROM node\nWORKDIR $APP_HOME\nCMD ["x"]\n',
      message: 'docker-compose.yml line 2: service `web` cannot start: Dockerfile line 2: `$APP_HOME` has no value here (no ARG default or ENV sets it), so the directory is not known',
    },
    {
      name: 'a Dockerfile without FROM',
      dockerfile: 'CMD ["x"]\n',
      message: 'docker-compose.yml line 2: service `web` cannot start: Dockerfile has no FROM: it is not a Dockerfile Docker can build',
    },
    {
      name: 'a build target that is not a stage',
      dockerfile: 'FROM node AS build\nCMD ["x"]\n',
      compose: 'services:\n  web:\n    build:\n      context: .\n      target: prod\n',
      message: 'docker-compose.yml line 2: service `web` cannot start: Dockerfile has no stage `prod` (the build target): name one with `FROM … AS prod`',
    },
    {
      name: 'a Dockerfile outside the directory',
      dockerfile: '',
      compose: 'services:\n  web:\n    build:\n      context: .\n      dockerfile: ../Dockerfile\n',
      message: 'docker-compose.yml line 2: service `web` names the Dockerfile `../Dockerfile`, outside the deployed directory: keep it inside',
    },
    {
      name: 'an environment key that is no variable name',
      dockerfile: 'FROM x\nCMD ["x"]\n',
      compose: 'services:\n  web:\n    build: .\n    environment:\n      - 1BAD=x\n',
      message: 'docker-compose.yml line 2: service `web` has an `environment` key `1BAD` that is not a variable name: use letters, digits and underscores, not starting with a digit',
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      const service = only(c.compose ?? WEB, { Dockerfile: c.dockerfile });
      assert.equal(service.error?.message, c.message);
      assert.equal(service.error?.line, 2);
    });
  }
});

describe('compose: environment values are defaults that config vars override', () => {
  const compose =
    'services:\n  web:\n    build: .\n    command: ["printf", "[%s]\\\\n", "${GREETING}", "${QUOTE}", "${EMPTY}", "${TARGET}"]\n    environment:\n      GREETING: hello world\n      QUOTE: "it\'s $$5"\n      EMPTY: ""\n      TARGET:\n';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-env-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (env: Record<string, string>): string[] => {
    const command = parseCompose(compose, 'docker-compose.yml', { readFile: () => undefined }).web!;
    return execFileSync('/bin/sh', ['-c', command], { cwd: dir, env: { PATH: process.env.PATH, ...env } })
      .toString()
      .trimEnd()
      .split('\n');
  };

  it('uses the defaults when no config var is set', () => {
    assert.deepEqual(run({}), ['[hello world]', "[it's $5]", '[]', '[]']);
  });

  it('lets a config var win, even an empty one', () => {
    assert.deepEqual(run({ GREETING: 'from config', QUOTE: '', TARGET: 'prod' }), ['[from config]', '[]', '[]', '[prod]']);
  });

  it('records a key without a value as one with no default', () => {
    assert.deepEqual(read(compose, {})[0]!.environment.at(-1), { key: 'TARGET', value: null });
  });
});
