/**
 * The CLI holding a credential for an address whose control plane now has another CA (the
 * cluster re-created with a fresh etcd, same address): it says so and how to log in again, not
 * that the control plane cannot be reached.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';

describe('a stored credential of another CA than the control plane presents', { timeout: 120_000 }, () => {
  let current: TestCluster;
  let former: TestCluster;

  before(async () => {
    [current, former] = await Promise.all([TestCluster.start({ controlPlaneArgs: ['--tls'] }), TestCluster.start({ controlPlaneArgs: ['--tls'] })]);
  });

  after(async () => {
    await Promise.all([current?.stop(), former?.stop()]);
  });

  it('names both CAs and `cluster login` again, exit 2', async () => {
    // As if `current` were `former` re-created at the same address: the credential is former's.
    const read = (c: TestCluster) => JSON.parse(fs.readFileSync(path.join(c.dir, 'home', 'credentials.json'), 'utf8')) as { servers: Record<string, unknown> };
    const home = path.join(current.dir, 'stale-home');
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(home, 'credentials.json'), JSON.stringify({ servers: { [current.server]: read(former).servers[former.server] } }), { mode: 0o600 });
    const res = await current.cli(['apps'], { home });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, new RegExp(`^error: the control plane at ${current.server.replace(/\./g, '\\.')} presents a certificate of another CA \\(sha256:[0-9a-f]{64}\\) than the credential stored for that address \\(CA sha256:[0-9a-f]{64}\\): .*log in again with \`cluster login --server ${current.server.replace(/\./g, '\\.')} --token T\``));
    assert.doesNotMatch(res.stderr, /cannot reach/);
  });

  it('`cluster login` again replaces the credential, and the command works', async () => {
    const home = path.join(current.dir, 'stale-home');
    const { token, caHash } = await current.cliJson<{ token: string; caHash: string }>(['operators:token']);
    const login = await current.cli(['login', '--server', current.server, '--token', token, '--ca-hash', caHash], { home });
    assert.equal(login.code, 0, login.stderr);
    const res = await current.cli(['apps'], { home });
    assert.equal(res.code, 0, res.stderr);
  });

  it('with the right credential, the same command works (no false alarm)', async () => {
    const res = await current.cli(['apps']);
    assert.equal(res.code, 0, res.stderr);
  });
});
