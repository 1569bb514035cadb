/**
 * Commands that cannot reach a control plane fail as `cluster ps` does there: the same sentence,
 * exit 2, within the deadline of the other commands' calls. `logs -f` does not keep trying for a
 * minute as a follow that lost its control plane mid-stream does, nor say that a stream stopped
 * which never began (docs/logs.md); `deploy` packs nothing (it packed the whole directory, then
 * failed the upload, after 10 minutes against a control plane that never answers). Nothing but
 * the CLI runs here, and a control plane of the test's own that answers the deploy's first call
 * and then takes its slug slowly or not at all: a stalled upload fails after the idle timeout
 * (`CLUSTER_UPLOAD_IDLE_TIMEOUT`), a slow one that moves goes on past it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as crypto from 'node:crypto';
import { freePort } from '../../lib/free-port';
import { apiProto } from '../../proto/load';
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

  const cli = (args: string[], server: string, more: NodeJS.ProcessEnv = {}, timeoutMs = 90_000) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CLUSTER_HOME: home, NO_COLOR: '1', ...more };
    delete env.CLUSTER_SERVER; // --server only
    return runCli(clusterCommand([...args, '--server', server], [], CLI), env, { timeoutMs });
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

  describe('a deploy whose control plane takes its slug slowly or not at all', () => {
    /** What the fake control plane does with a deploy's slug. */
    let taking: 'nothing' | 'slowly' = 'nothing';
    let fake: grpc.Server;
    let fakeAddress: string;
    /** 12 MiB that do not compress: more than the connection's windows and buffers hold. */
    let bigApp: string;

    before(async () => {
      bigApp = writeAppDir(home, 'big', { Procfile: 'web: node server.js\n', 'server.js': '', 'blob.bin': crypto.randomBytes(12 * 1024 * 1024) });
      fake = new grpc.Server();
      fake.addService(apiProto().ClusterApi.service, {
        // The deploy's first call: the app exists.
        ListReleases: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { releases: [] }),
        Deploy: (call: grpc.ServerReadableStream<{ data?: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          if (taking === 'nothing') return void call.once('data', () => call.pause()); // the metadata, then silence
          call.on('data', () => {
            call.pause();
            setTimeout(() => call.resume(), 100);
          });
          call.on('end', () => callback(null, { version: 7, description: 'Deploy', created_at_ms: Date.now(), slug: 'a'.repeat(64), process_types: [{ name: 'web', command: 'node server.js' }] }));
        },
      } as grpc.UntypedServiceImplementation);
      const port = await new Promise<number>((resolve, reject) =>
        fake.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))));
      fakeAddress = `127.0.0.1:${port}`;
    });

    after(() => fake?.forceShutdown());

    it('fails a stalled upload after the idle timeout, saying so (exit 2)', async () => {
      taking = 'nothing';
      // Without an idle timeout it waited for the upload's 10-minute deadline.
      const res = await cli(['deploy', bigApp, '-a', 'shop'], fakeAddress, { CLUSTER_UPLOAD_IDLE_TIMEOUT: '2' }, 60_000);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /Uploading/);
      assert.match(res.stderr, new RegExp(`error: the upload stalled: the control plane at ${fakeAddress.replace(/\./g, '\\.')} took no bytes for 2 s \\([\\d.]+ [KM]iB of 12(\\.\\d)? MiB sent\\)`));
      assert.match(res.stderr, /Nothing was released: deploy again, or allow longer pauses with CLUSTER_UPLOAD_IDLE_TIMEOUT=SECONDS\n$/);
      assert.ok(res.ms < 30_000, `failed after ${Math.round(res.ms)} ms`);
    });

    it('goes on with a slow upload that keeps moving, past the idle timeout', async () => {
      taking = 'slowly';
      const res = await cli(['deploy', bigApp, '-a', 'shop'], fakeAddress, { CLUSTER_UPLOAD_IDLE_TIMEOUT: '2' }, 60_000);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, /^Released v7 of shop \(aaaaaaaaaaaa\)/);
      assert.ok(res.ms > 4_000, `48 chunks taken 0.1 s apart outlast the 2 s idle timeout (took ${Math.round(res.ms)} ms)`);
    });

    it('refuses a malformed idle timeout before it packs anything (exit 1)', async () => {
      const res = await cli(['deploy', bigApp, '-a', 'shop'], fakeAddress, { CLUSTER_UPLOAD_IDLE_TIMEOUT: '2m' });
      assert.equal(res.code, 1, res.stderr);
      assert.equal(res.stderr, 'error: CLUSTER_UPLOAD_IDLE_TIMEOUT=2m: expected whole seconds from 1 to 86400, e.g. 120\n');
    });
  });
});
