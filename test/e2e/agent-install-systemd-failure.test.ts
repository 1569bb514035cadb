/**
 * `cluster agent install` whose `systemctl enable --now` fails, after the join and the unit file
 * (docs/process-servers.md): the error says the server has joined and what is left to run, and
 * running install again says the same, instead of only "uninstall first" (which, with a one-use
 * token, was a dead end). systemd is faked in a private mount namespace (`unshare -m`): tmpfs over
 * /run/systemd and /etc/systemd/system, and a `systemctl` that fails `enable`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { CLI } from '../helpers/cluster-binary';

describe('agent install when systemctl fails', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('says the server has joined and that `systemctl enable --now` is what is left, then and when run again', async () => {
    const token = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token', '--uses', '1']);
    const bin = path.join(cluster.dir, 'fake-systemd-bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'systemctl'), '#!/bin/sh\n[ "$1" = enable ] && { echo "Failed to enable unit (fake)" >&2; exit 1; }\nexit 0\n', { mode: 0o755 });
    const dataDir = path.join(cluster.dir, 'installed');
    const install = [process.execPath, CLI, '--server', cluster.server, 'agent', 'install', '--token', token.token, '--ca-hash', token.caHash, '--name', 'svc-1', '--data-dir', dataDir]
      .map((w) => `'${w}'`)
      .join(' ');
    const script = [
      'set -u',
      'mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system && mount -t tmpfs tmpfs /etc/systemd/system || exit 99',
      `${install} > first.out 2> first.err; echo $? > first.code`,
      `${install} > second.out 2> second.err; echo $? > second.code`,
      'cat /etc/systemd/system/cluster-agent.service > unit.out',
    ].join('\n');
    const res = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
      cwd: cluster.dir,
      env: { ...cluster.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    assert.equal(res.status, 0, `${res.stderr}`);
    const read = (name: string) => fs.readFileSync(path.join(cluster.dir, name), 'utf8');
    assert.equal(read('first.code').trim(), '1', read('first.err'));
    assert.match(read('first.err'), /`systemctl enable --now cluster-agent` failed \(exit status 1\)\. The server has joined the cluster and \/etc\/systemd\/system\/cluster-agent\.service is written: once systemd's problem is fixed .*run `systemctl daemon-reload` and `systemctl enable --now cluster-agent`; no new token is needed/);
    assert.ok(fs.existsSync(path.join(dataDir, 'join.json')), 'joined');
    assert.match(read('unit.out'), /ExecStart=.* agent start /);
    assert.equal(read('second.code').trim(), '1', read('second.err'));
    assert.match(read('second.err'), /exists already: if an earlier install stopped at `systemctl` \(the server joined, the unit written\), `systemctl enable --now cluster-agent` is all that is left/);
  });
});
