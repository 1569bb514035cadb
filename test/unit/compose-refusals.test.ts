/** Compose files (and services) that deploy refuses, each naming the line and the service. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposeError, parseCompose, readComposeServices } from '../../lib/compose';

describe('parseCompose: compose files it refuses, naming the line and service', () => {
  const cases: Array<{ name: string; text: string; message: string; service?: string; line?: number; fileName?: string }> = [
    {
      name: 'a service built from another directory',
      text: 'services:\n  api:\n    build: ./api\n    command: npm start\n',
      message:
        'docker-compose.yml line 2: service `api` builds `./api`: only the deployed directory is run (`build: .`); deploy that directory on its own or build from `.`',
      service: 'api',
      line: 2,
    },
    {
      name: 'a build mapping with another context',
      text: 'services:\n  web:\n    build:\n      context: ../shared\n    command: x\n',
      message:
        'docker-compose.yml line 2: service `web` builds `../shared`: only the deployed directory is run (`build: .`); deploy that directory on its own or build from `.`',
      service: 'web',
      line: 2,
    },
    {
      name: 'a built service that relies on the Dockerfile CMD',
      text: 'services:\n  web:\n    build: .\n    ports: ["3000:3000"]\n',
      message: 'docker-compose.yml line 2: service `web` has no `command` and there is no Dockerfile to read its CMD from: add the Dockerfile (with a CMD) or a `command`',
      service: 'web',
      line: 2,
    },
    {
      name: 'the legacy version 1 format',
      text: 'web:\n  build: .\n  command: python app.py\n  links:\n    - redis\nredis:\n  image: redis\n',
      message:
        'docker-compose.yml uses the legacy version 1 format (services at the top level): use version 2 or 3, with the services under `services:`',
    },
    {
      name: 'an unsupported version',
      text: 'version: "1.0"\nservices:\n  web:\n    command: x\n',
      message: 'docker-compose.yml line 1: version 1.0 is not supported: use version 2 or 3 (services under `services:`)',
      line: 1,
    },
    {
      name: 'a version that is a mapping',
      text: 'version:\n  major: 3\nservices:\n  web:\n    command: x\n',
      message: 'docker-compose.yml line 1: `version` must be a version number like 3.8',
      line: 1,
    },
    {
      name: 'a build context that is a list',
      text: 'services:\n  web:\n    build:\n      context: [a, b]\n    command: x\n',
      message: 'docker-compose.yml line 2: service `web` has a `build.context` that is a list, not a single value',
      service: 'web',
      line: 2,
    },
    {
      name: 'a working_dir that is a mapping',
      text: 'services:\n  web:\n    build: .\n    working_dir: {path: /app}\n    command: x\n',
      message: 'docker-compose.yml line 2: service `web` has a `working_dir` that is a mapping, not a single value',
      service: 'web',
      line: 2,
    },
    {
      name: 'YAML indented with a tab',
      text: 'services:\n\tweb:\n\t\tcommand: x\n',
      message: 'docker-compose.yml line 2: not valid YAML: Tabs are not allowed as indentation',
      line: 2,
    },
    {
      name: 'an unclosed flow list',
      text: 'services:\n  web:\n    build: .\n    command: ["node", "web.js"\n  worker:\n    command: x\n',
      message: 'docker-compose.yml line 5: not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
      line: 5,
    },
    {
      name: 'a service declared twice',
      text: 'services:\n  web:\n    command: a\n  web:\n    command: b\n',
      message: 'docker-compose.yml line 4: not valid YAML: Map keys must be unique',
      line: 4,
    },
    {
      name: 'no services, only networks',
      text: 'version: "3"\nnetworks:\n  default:\n    external: true\n',
      message: 'docker-compose.yml has no `services:`: declare each process as a service with a `command`',
    },
    {
      name: 'an empty services mapping',
      text: 'services: {}\n',
      message: 'docker-compose.yml line 1: `services` is empty: declare each process as a service with a `command`',
      line: 1,
    },
    {
      name: 'services as a list',
      text: 'services:\n  - web\n',
      message: 'docker-compose.yml line 1: `services` must map service names to services',
      line: 1,
    },
    {
      name: 'a service name that is not a process type name',
      text: 'services:\n  web.api:\n    build: .\n    command: x\n',
      message: 'docker-compose.yml line 2: service `web.api` is not a valid process type name: use up to 63 letters, digits, `_` and `-`',
      service: 'web.api',
      line: 2,
    },
    {
      name: 'a service name longer than a process type may be',
      text: `services:\n  ${'w'.repeat(64)}:\n    command: x\n`,
      message: `docker-compose.yml line 2: service \`${'w'.repeat(64)}\` has a name of 64 characters: a process type has at most 63`,
      service: 'w'.repeat(64),
      line: 2,
    },
    {
      name: 'a NUL byte in an environment value',
      text: 'services:\n  web:\n    command: x\n    environment: {NULLY: "a\\0b"}\n',
      message: 'docker-compose.yml line 2: service `web` has an `environment` value for NULLY with a NUL byte (character 2), which no process can be started with: remove it',
      service: 'web',
      line: 2,
    },
    {
      name: 'a NUL byte in a command list',
      text: 'services:\n  web:\n    command: ["echo", "a\\0b"]\n',
      message: 'docker-compose.yml line 2: service `web` has a `command` with a NUL byte (character 7), which no process can be started with: remove it',
      service: 'web',
      line: 2,
    },
    {
      name: 'a service named as `cluster run`\'s one-offs',
      text: 'services:\n  run:\n    build: .\n    command: x\n',
      message: "docker-compose.yml line 2: service `run` names `cluster run`'s one-off processes (run.1, run.2 …): choose another name",
      service: 'run',
      line: 2,
    },
    {
      name: 'a service that extends another',
      text: 'services:\n  base:\n    build: .\n    command: x\n  web:\n    extends: base\n',
      message: 'docker-compose.yml line 5: service `web` uses `extends`, which this tool does not follow: write its `command` in the service itself',
      service: 'web',
      line: 5,
    },
    {
      name: 'a command that is a mapping',
      text: 'services:\n  web:\n    build: .\n    command:\n      run: x\n',
      message: 'docker-compose.yml line 2: service `web` has a `command` that is neither a string nor a list of strings',
      service: 'web',
      line: 2,
    },
    {
      name: 'a command over several lines',
      text: 'services:\n  web:\n    build: .\n    command: |\n      ./migrate\n      ./serve\n',
      message:
        'docker-compose.yml line 2: service `web` has a command (or environment value) over several lines, which a Procfile line cannot hold: join lines with `&&`, move them into a script, or set the value with `cluster config:set`',
      service: 'web',
      line: 2,
    },
    {
      name: 'a service that is a string',
      text: 'services:\n  web: node web.js\n',
      message: 'docker-compose.yml line 2: service `web` must be a mapping with `build: .` or a `command`',
      service: 'web',
      line: 2,
    },
    {
      name: 'a service with neither image, build nor command',
      text: 'services:\n  web:\n    ports: ["80:80"]\n',
      message: "docker-compose.yml line 2: service `web` has no `command` and builds nothing: add `build: .` (the Dockerfile's CMD runs) or a `command`",
      service: 'web',
      line: 2,
    },
    {
      name: 'a list as the whole file',
      text: '- web\n- worker\n',
      message: 'docker-compose.yml is not a Compose file: expected a mapping with `services:`',
      line: 1,
    },
    { name: 'an empty file', text: '', message: 'docker-compose.yml is empty: declare each process as a service with a `command` under `services:`' },
    {
      name: 'a file of backing services only, named by the file it is in',
      text: 'services:\n  cache:\n    image: redis:7\n',
      fileName: 'compose.yaml',
      message: 'compose.yaml has only backing services (cache: redis:7): add a service that builds the app (`build: .`) or has a `command`',
    },
  ];

  for (const c of cases) {
    it(`refuses ${c.name}`, () => {
      assert.throws(
        () => parseCompose(c.text, c.fileName),
        (err: unknown) => {
          assert.ok(err instanceof ComposeError);
          assert.equal(err.message, c.message);
          assert.equal(err.service, c.service);
          assert.equal(err.line, c.line);
          return true;
        },
      );
    });
  }

  it('reports every refused service, not only the first', () => {
    const services = readComposeServices('services:\n  web:\n    build: .\n    command: x\n  a:\n    ports: [1]\n  b:\n    command: {x: 1}\n');
    assert.deepEqual(
      services.map((s) => [s.name, s.command, s.error?.line]),
      [
        ['web', 'x', undefined],
        ['a', undefined, 5],
        ['b', undefined, 7],
      ],
    );
  });
});
