/**
 * `cluster deploy` that cannot reach a control plane fails as `cluster ps` does there (the same
 * sentence, exit 2, within the deadline of the other commands' calls) before it packs anything:
 * it used to pack the whole directory first, then fail the upload (after 10 minutes against a
 * control plane that never answers). Nothing but the CLI runs here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../../lib/free-port';
import { CLI, clusterCommand, runCli } from '../helpers/cluster-binary';
import { writeAppDir } from '../helpers/app-sources';

describe('cluster deploy without a control plane', { timeout: 120_000 }, () => {
  let home: string;
  let appDir: string;
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  /** A server that takes connections and never says a word (a hung replica). */
  let silentAddress: string;

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-deploy-unreachable-'));
    appDir = writeAppDir(home, 'app', { Procfile: 'web: node server.js\n', 'server.js': 'setInterval(() => {}, 1000);\n' });
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    fs.rmSync(home, { recursive: true, force: true });
  });

  const cli = (args: string[], server: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CLUSTER_HOME: home, NO_COLOR: '1' };
    delete env.CLUSTER_SERVER; // --server only
    return runCli(clusterCommand([...args, '--server', server], [], CLI), env, { timeoutMs: 90_000 });
  };

  /** `deploy` and `ps` against `server`: the same failure, nothing packed, and the deploy about as fast. */
  const sameAsPs = async (server: string, withinMs: number) => {
    const [deploy, ps] = await Promise.all([cli(['deploy', appDir, '-a', 'shop'], server), cli(['ps', '-a', 'shop'], server)]);
    assert.equal(ps.code, 2, ps.stderr);
    assert.equal(deploy.code, 2, deploy.stderr);
    assert.doesNotMatch(deploy.stderr, /Packed|Uploading/, 'nothing is packed for a control plane that cannot take it');
    assert.ok(deploy.ms < withinMs, `failed after ${Math.round(deploy.ms)} ms`);
    assert.equal(deploy.stdout, '');
    return { deploy, ps };
  };

  it('fails at once like ps when nothing listens', async () => {
    const server = `127.0.0.1:${await freePort()}`;
    const { deploy, ps } = await sameAsPs(server, 15_000);
    assert.equal(deploy.stderr, ps.stderr);
    assert.match(deploy.stderr, /^error: cannot reach the control plane at 127\.0\.0\.1:\d+ \(connection refused\)/);
  });

  it('fails at once like ps when every replica of --server is down', async () => {
    const server = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const { deploy, ps } = await sameAsPs(server, 15_000);
    assert.equal(deploy.stderr, ps.stderr);
  });

  it('gives up on a control plane that never answers within the deadline of the other commands', async () => {
    const { deploy, ps } = await sameAsPs(silentAddress, 25_000);
    const reach = /^error: cannot reach the control plane at 127\.0\.0\.1:\d+ \(Deadline exceeded after [\d.]+s.*\): is it running\?/;
    assert.match(ps.stderr, reach);
    assert.match(deploy.stderr, reach);
  });
});
