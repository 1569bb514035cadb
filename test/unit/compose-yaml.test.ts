import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ComposeError } from '../../lib/compose-types';
import { isMapping, loadComposeYaml, scalarText } from '../../lib/compose-yaml';

describe('loadComposeYaml: the file as values, with lines', () => {
  it('gives the line of each key, 0 for a key that is not there', () => {
    const { root, lineOf } = loadComposeYaml('\uFEFF# app\nversion: "3"\nservices:\n\n  web:\n    command: x\n', 'c.yml');
    assert.deepEqual(root, { version: '3', services: { web: { command: 'x' } } });
    assert.equal(lineOf(['version']), 2);
    assert.equal(lineOf(['services']), 3);
    assert.equal(lineOf(['services', 'web']), 5);
    assert.equal(lineOf(['services', 'worker']), 0);
  });

  it('keeps numbers, booleans and octal-looking values as their text', () => {
    const { root } = loadComposeYaml('version: 3.10\ncommand: [sleep, 010, 1.0, yes]\n', 'c.yml');
    assert.deepEqual(root, { version: '3.10', command: ['sleep', '010', '1.0', 'yes'] });
  });

  it('follows merge keys', () => {
    const { root } = loadComposeYaml('base: &b {command: run}\nweb:\n  <<: *b\n  build: .\n', 'c.yml');
    assert.deepEqual((root as { web: unknown }).web, { command: 'run', build: '.' });
  });

  it('names the line of a YAML syntax error', () => {
    assert.throws(
      () => loadComposeYaml('services:\n  web:\n    command: "unterminated\n', 'docker-compose.yml'),
      (err: unknown) => err instanceof ComposeError && /^docker-compose\.yml line \d+: not valid YAML: /.test(err.message) && typeof err.line === 'number',
    );
  });
});

describe('scalarText and isMapping', () => {
  it('turns a single value into text and refuses lists and mappings', () => {
    assert.equal(scalarText(3, 'version'), '3');
    assert.equal(scalarText(true, 'build'), 'true');
    assert.equal(scalarText(null, 'build'), undefined);
    assert.throws(() => scalarText(['.'], 'build'), { message: 'has a `build` that is a list, not a single value' });
    assert.throws(() => scalarText({}, 'build.target'), { message: 'has a `build.target` that is a mapping, not a single value' });
  });

  it('tells a mapping from a list and null', () => {
    assert.equal(isMapping({}), true);
    assert.equal(isMapping([]), false);
    assert.equal(isMapping(null), false);
  });
});
