import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const main = path.resolve(__dirname, '..', '..', 'cli', 'main.js');

describe('control-plane start --etcd', () => {
  const cases: Array<[string, RegExp]> = [
    ['http://127.0.0.1:2379,foo', /`foo` is not a URL/],
    ['http://127.0.0.1', /names no port/],
    ['unix://x:1', /must start with http:\/\/ or https:\/\//],
    ['http://127.0.0.1:2379/v3', /has a path/],
  ];
  for (const [value, message] of cases) {
    it(`names the malformed entry in ${value}`, () => {
      const res = spawnSync(process.execPath, [main, 'control-plane', 'start', '--etcd', value, '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(res.status, 1, res.stderr);
      assert.match(res.stderr, message);
    });
  }
});
