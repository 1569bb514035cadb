/**
 * Commands that cannot reach a control plane fail as `cluster ps` does there: the same sentence,
 * exit 2, within the deadline of the other commands' calls. `logs -f` does not keep trying for a
 * minute as a follow that lost its control plane mid-stream does, nor say that a stream stopped
 * which never began (docs/logs.md); `deploy` packs nothing (it packed the whole directory, then
 * failed the upload, after 10 minutes against a control plane that never answers). Nothing but
 * the CLI runs here.
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

describe('commands without a control plane', { timeout: 120_000 }, () => {
  let home: string;
  let appDir: string;
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  /** A server that takes connections and never says a word (a hung replica). */
  let silentAddress: string;

  before(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-unreachable-'));
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

  /** Each command with what it must not have printed (it never began). */
  const commands = () => [
    { args: ['logs', '-f', '-a', 'shop'], never: /stopped streaming|following on/ },
    { args: ['deploy', appDir, '-a', 'shop'], never: /Packed|Uploading/ },
  ];

  /** `logs -f`, `deploy` and `ps` against `server`: the same failure, as fast; their stderr. */
  const sameAsPs = async (server: string, withinMs: number) => {
    const [ps, ...others] = await Promise.all([cli(['ps', '-a', 'shop'], server), ...commands().map((c) => cli(c.args, server))]);
    assert.equal(ps.code, 2, ps.stderr);
    commands().forEach((command, i) => {
      const res = others[i]!;
      const name = command.args[0];
      assert.equal(res.code, 2, `${name}: ${res.stderr}`);
      assert.doesNotMatch(res.stderr, command.never, `${name} never began`);
      assert.ok(res.ms < withinMs, `${name} failed after ${Math.round(res.ms)} ms`);
      assert.equal(res.stdout, '', name);
    });
    return { ps: ps.stderr, others: others.map((res) => res.stderr) };
  };

  it('fail at once like ps when nothing listens', async () => {
    const server = `127.0.0.1:${await freePort()}`;
    const { ps, others } = await sameAsPs(server, 15_000);
    assert.match(ps, /^error: cannot reach the control plane at 127\.0\.0\.1:\d+ \(connection refused\)/);
    for (const stderr of others) assert.equal(stderr, ps);
  });

  it('fail at once like ps when every replica of --server is down', async () => {
    const server = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const { ps, others } = await sameAsPs(server, 15_000);
    assert.match(ps, new RegExp(`^error: cannot reach the control plane at ${server.replace(/\./g, '\\.')} \\(connection refused\\)`));
    for (const stderr of others) assert.equal(stderr, ps);
  });

  it('give up on a control plane that never answers within the deadline of the other commands', async () => {
    const { ps, others } = await sameAsPs(silentAddress, 25_000);
    const reach = /^error: cannot reach the control plane at 127\.0\.0\.1:\d+ \(Deadline exceeded after [\d.]+s.*\): is it running\?/;
    for (const stderr of [ps, ...others]) assert.match(stderr, reach);
  });
});
