import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
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

describe('control-plane start --metrics-token-file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-token-flag-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const short = path.join(dir, 'short');
  fs.writeFileSync(short, 'abc\n');
  const spaced = path.join(dir, 'spaced');
  fs.writeFileSync(spaced, 'a token with spaces in it\n');
  const cases: Array<[string[], RegExp]> = [
    [['--metrics-token-file', short], /--metrics-token-file is for \/metrics on the --http listener: give --http/],
    [['--http', '127.0.0.1:1', '--metrics-token-file', path.join(dir, 'missing')], /--metrics-token-file .*missing: cannot read it \(ENOENT\)/],
    [['--http', '127.0.0.1:1', '--metrics-token-file', short], /the token must be 16 to 4096 printable characters/],
    [['--http', '127.0.0.1:1', '--metrics-token-file', spaced], /the token must be 16 to 4096 printable characters without spaces/],
    [['--agent-restart-hold', '1.5'], /--agent-restart-hold 1\.5: give whole seconds from 0 \(no hold\) to 600/],
    [['--agent-restart-hold', '601'], /--agent-restart-hold 601: give whole seconds from 0 \(no hold\) to 600/],
    [['--agent-restart-hold', '-1'], /--agent-restart-hold -1: give whole seconds/],
    [['--agent-restart-hold', '9'], /--agent-restart-hold 9: give 0 \(no hold\) or at least 10 s \(--agent-ttl 4 \+ 6/],
    [['--agent-ttl', '10', '--agent-restart-hold', '15'], /--agent-restart-hold 15: give 0 \(no hold\) or at least 16 s/],
  ];
  for (const [flags, message] of cases) {
    it(`refuses ${flags.join(' ').replace(dir, 'DIR')} before starting`, () => {
      const res = spawnSync(process.execPath, [main, 'control-plane', 'start', '--etcd', 'http://127.0.0.1:1', '--listen', '127.0.0.1:0', ...flags], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(res.status, 1, res.stderr);
      assert.match(res.stderr, message);
    });
  }
});
