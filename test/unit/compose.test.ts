import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { backingServiceWarning, COMPOSE_FILES, firstDeployCount, parseCompose, quoteArgv, readComposeServices } from '../../lib/compose';

/** What `sh -c TEXT` passes as argv to a program: printf shows each argument in brackets. */
function argvOf(shellWords: string, env: Record<string, string> = {}): string[] {
  const out = execFileSync('/bin/sh', ['-c', `printf '[%s]\\n' ${shellWords}`], { env: { PATH: process.env.PATH, ...env } }).toString();
  return out.trimEnd().split('\n').map((line) => line.slice(1, -1));
}

describe('parseCompose: compose files that become process types', () => {
  const cases: Array<{ name: string; text: string; types: Array<[string, string]> }> = [
    {
      name: 'a version 3 Rails app with a Sidekiq worker',
      text: [
        "version: '3.8'",
        'services:',
        '  web:',
        '    build: .',
        "    command: bundle exec rails s -p 3000 -b '0.0.0.0'",
        '    ports:',
        '      - "3000:3000"',
        '    environment:',
        '      RAILS_ENV: development',
        '  sidekiq:',
        '    build: .',
        '    command: bundle exec sidekiq -C config/sidekiq.yml',
        '    volumes:',
        '      - .:/app',
        '',
      ].join('\n'),
      types: [
        // `environment:` values are defaults that a config var of the same name overrides.
        ['web', `[ "\${RAILS_ENV+x}" ] || export RAILS_ENV=development; bundle exec rails s -p 3000 -b '0.0.0.0'`],
        ['sidekiq', 'bundle exec sidekiq -C config/sidekiq.yml'],
      ],
    },
    {
      name: 'a version 2 Django app (the Docker docs example)',
      text: "version: '2'\nservices:\n  web:\n    build: .\n    command: python manage.py runserver 0.0.0.0:8000\n    volumes:\n      - .:/code\n",
      types: [['web', 'python manage.py runserver 0.0.0.0:8000']],
    },
    {
      name: 'an unquoted version number and a list command',
      text: 'version: 3\nservices:\n  web:\n    build: ./\n    command: ["npm", "run", "start"]\n',
      types: [['web', 'npm run start']],
    },
    {
      name: 'the Compose Specification without `version`, build as a mapping',
      text: 'services:\n  api:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n    command: node dist/server.js\n',
      types: [['api', 'node dist/server.js']],
    },
    {
      name: 'an entrypoint list before a command list',
      text: 'services:\n  worker:\n    build: .\n    entrypoint: ["bundle", "exec"]\n    command: ["sidekiq", "-q", "default"]\n',
      types: [['worker', 'bundle exec sidekiq -q default']],
    },
    {
      name: 'an entrypoint string before a command string',
      text: 'services:\n  web:\n    build: .\n    entrypoint: ./docker-entrypoint.sh\n    command: npm start\n',
      types: [['web', './docker-entrypoint.sh npm start']],
    },
    {
      name: 'an entrypoint alone',
      text: 'services:\n  clock:\n    build: .\n    entrypoint: ["python", "clock.py"]\n',
      types: [['clock', 'python clock.py']],
    },
    {
      name: 'an image with a command runs the command here',
      text: 'services:\n  web:\n    image: node:20-alpine\n    working_dir: /app\n    volumes: [".:/app"]\n    command: sh -c "npm install && npm start"\n',
      types: [['web', 'sh -c "npm install && npm start"']],
    },
    {
      name: 'an extension field merged into services (anchors and `<<`)',
      text: [
        'x-app: &app',
        '  build: .',
        '  environment:',
        '    - NODE_ENV=production',
        'services:',
        '  web:',
        '    <<: *app',
        '    command: node web.js',
        '  worker:',
        '    <<: *app',
        '    command: node worker.js',
        '',
      ].join('\n'),
      types: [
        ['web', '[ "${NODE_ENV+x}" ] || export NODE_ENV=production; node web.js'],
        ['worker', '[ "${NODE_ENV+x}" ] || export NODE_ENV=production; node worker.js'],
      ],
    },
    {
      name: 'list items with spaces, quotes and a leading dash keep their boundaries',
      text: `services:\n  web:\n    build: .\n    command: ["node", "-e", "console.log('a b')", "it's", "", "--x=1"]\n`,
      types: [['web', `node -e 'console.log('\\''a b'\\'')' 'it'\\''s' '' --x=1`]],
    },
    {
      name: 'numbers in a list keep their text',
      text: 'services:\n  worker:\n    build: .\n    command: [sleep, 1.50, 010]\n',
      types: [['worker', 'sleep 1.50 010']],
    },
    {
      name: '`$$` is a literal dollar, `$VAR` is left for the shell, in a string',
      text: 'services:\n  web:\n    build: .\n    command: sh -c "echo $$HOSTNAME && exec puma -p $PORT" \'$$HOME\'\n',
      types: [['web', `sh -c "echo \\$HOSTNAME && exec puma -p $PORT" '$HOME'`]],
    },
    {
      name: '`$$` is a literal dollar, `${VAR}` expands as one word, in a list',
      text: 'services:\n  web:\n    build: .\n    command: ["gunicorn", "-b", "0.0.0.0:${PORT:-8000}", "--name", "$$x"]\n',
      types: [['web', `gunicorn -b "0.0.0.0:\${PORT:-8000}" --name '$x'`]],
    },
    {
      name: 'a folded block command becomes one line',
      text: 'services:\n  web:\n    build: .\n    command: >\n      bundle exec puma\n      -C config/puma.rb\n',
      types: [['web', 'bundle exec puma -C config/puma.rb']],
    },
    {
      name: 'a BOM and Windows line endings',
      text: '\uFEFFservices:\r\n  web:\r\n    build: .\r\n    command: node web.js\r\n',
      types: [['web', 'node web.js']],
    },
    {
      name: 'top-level networks, volumes and a null build are ignored',
      text: 'services:\n  web:\n    build:\n    command: node web.js\n    networks: [front]\nnetworks:\n  front: {}\nvolumes:\n  data:\n',
      types: [['web', 'node web.js']],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const types = parseCompose(c.text);
      assert.deepEqual(Object.entries(types), c.types);
    });
  }

  it('runs exactly the argv of a list command through sh -c', () => {
    const text = `services:\n  t:\n    build: .\n    command: ["printf", "[%s]\\\\n", "a b", "it's", "", "*", "$$HOME", "\${GREETING}", "x\\"y", "back\\\\slash"]\n`;
    const command = parseCompose(text).t!;
    const out = execFileSync('/bin/sh', ['-c', command], { env: { PATH: process.env.PATH, GREETING: 'hello world' } }).toString();
    assert.deepEqual(out.trimEnd().split('\n'), ['[a b]', "[it's]", '[]', '[*]', '[$HOME]', '[hello world]', '[x"y]', '[back\\slash]']);
  });

  it('lists the keys it does not use, per service', () => {
    const [web] = readComposeServices('services:\n  web:\n    image: app\n    build: .\n    command: x\n    ports: ["80:80"]\n    environment: {A: b}\n');
    assert.deepEqual(web!.ignored, ['image', 'ports']);
    assert.deepEqual(web!.environment, [{ key: 'A', value: 'b' }]);
    assert.equal(web!.line, 2);
  });

  it('reads deploy.replicas (and v2\'s scale) as the first deploy\'s instances, and the rest of deploy as not used', () => {
    const services = readComposeServices([
      'services:',
      '  web:',
      '    build: .',
      '    command: x',
      '    deploy: {replicas: 3, resources: {limits: {cpus: "0.5"}}, restart_policy: {condition: any}}',
      '  worker:',
      '    command: y',
      '    scale: 0',
      '  clock:',
      '    command: z',
      '    deploy: {mode: replicated}',
      '',
    ].join('\n'));
    assert.deepEqual(services.map((s) => [s.name, s.replicas, s.ignored]), [
      ['web', 3, ['deploy.resources', 'deploy.restart_policy']],
      ['worker', 0, []],
      ['clock', undefined, ['deploy.mode']],
    ]);
    for (const [value, key] of [['-1', 'deploy.replicas'], ['two', 'deploy.replicas'], ['1.5', 'deploy.replicas']] as const) {
      const [web] = readComposeServices(`services:\n  web:\n    command: x\n    deploy:\n      replicas: ${value}\n`);
      assert.match(web!.error?.message ?? '', new RegExp(`^docker-compose\\.yml line 2: service \`web\` has \`${key.replace('.', '\\.')}: .*\`: give a whole number of instances, 0 or more$`), value);
    }
  });

  it('starts a service with profiles on no first deploy, as `docker compose up` without --profile, and says so', () => {
    const services = readComposeServices('services:\n  web:\n    command: x\n  debug:\n    command: y\n    profiles: [debug]\n');
    assert.deepEqual(services.map((s) => [s.name, firstDeployCount(s), s.ignored]), [['web', 1, []], ['debug', 0, []]]);
    assert.deepEqual(services[1]!.warnings, ['docker-compose.yml line 4: service `debug` has profiles (debug): like `docker compose up` without --profile, the first deploy does not start it; `cluster scale debug=1` does']);
  });

  it('looks for the file names docker compose looks for', () => {
    assert.deepEqual(COMPOSE_FILES, ['docker-compose.yml', 'docker-compose.yaml', 'compose.yml', 'compose.yaml']);
  });
});

describe('parseCompose: image-only services are backing services', () => {
  const text = 'version: "3"\nservices:\n  web:\n    build: .\n    command: node web.js\n  db:\n    image: postgres:16\n    volumes: [pg:/var/lib/postgresql/data]\n';

  it('deploys the rest and leaves them out', () => {
    assert.deepEqual(Object.entries(parseCompose(text)), [['web', 'node web.js']]);
  });

  it('reports them with their image and line, and a warning that says what to do', () => {
    const db = readComposeServices(text).find((s) => s.name === 'db')!;
    assert.equal(db.backing, 'postgres:16');
    assert.equal(db.error, undefined);
    assert.equal(
      backingServiceWarning(db, 'docker-compose.yml'),
      'docker-compose.yml line 6: service `db` only names an image (postgres:16): a backing service, not deployed here; run it elsewhere and give the app its address with `cluster config:set`',
    );
  });
});

describe('quoteArgv', () => {
  const cases: string[][] = [
    ['node', 'server.js'],
    ['echo', 'a b', "it's", '', '$HOME', '`id`', '"', '\\', '*', '#x', 'a\tb', '~'],
    ['FOO=bar', 'x=1'],
    ['if', 'then'],
  ];
  for (const argv of cases) {
    it(`sh -c runs exactly ${JSON.stringify(argv)}`, () => {
      // printf stands in for argv[0]: whatever the first word is, it must stay one plain word.
      assert.deepEqual(argvOf(quoteArgv(argv)), argv);
    });
  }

  it('leaves plain words bare and quotes an assignment or keyword in first position', () => {
    assert.equal(quoteArgv(['bundle', 'exec', 'puma', '-C', 'config/puma.rb', '--bind=tcp://0.0.0.0:3000']), 'bundle exec puma -C config/puma.rb --bind=tcp://0.0.0.0:3000');
    assert.equal(quoteArgv(['FOO=bar', 'x']), "'FOO=bar' x");
    assert.equal(quoteArgv(['if']), "'if'");
  });
});
