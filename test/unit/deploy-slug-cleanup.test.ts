/**
 * `cluster deploy` against a stand-in control plane on loopback: the packed slug is removed from
 * $TMPDIR however the deploy ends: refused, failed while packing, or interrupted during its upload
 * (SIGINT: exit 130, SIGTERM: 143).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { apiProto } from '../../proto/load';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { connect } from '../../cli/client';
import { deployDirectory } from '../../cli/commands/deploy';
import { UserError } from '../../cli/errors';
import { INVALID_INPUT } from '../../lib/status-reason';
import { refusal } from '../../control-plane/rpc/status';
import { CLI } from '../helpers/cluster-binary';
import { waitFor } from '../helpers/wait-for';

describe('deploy removes its slug', { timeout: 60_000 }, () => {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-cleanup-'));
  const home = path.join(temp, 'home');
  let server: grpc.Server;
  let address: string;
  let api: ClusterApiClient;
  /** How the stand-in answers the next deploys: refuse once the slug starts, or never answer. */
  let deployAnswer: 'refuse' | 'never' = 'refuse';
  /** Slug bytes the stand-in received, per deploy. */
  const received: number[] = [];
  const open: Array<grpc.ServerReadableStream<{ data?: Buffer }, unknown>> = [];

  let count = 0;
  /** A fresh, empty folder to be a deploy's TMPDIR. */
  const tmpdir = () => fs.mkdtempSync(path.join(temp, `tmpdir-${++count}-`));
  /** An app with a Procfile and `data.bin`. */
  const app = () => {
    const dir = fs.mkdtempSync(path.join(temp, `app-${++count}-`));
    fs.writeFileSync(path.join(dir, 'Procfile'), 'web: node web.js\n');
    fs.writeFileSync(path.join(dir, 'data.bin'), 'x'.repeat(100));
    return dir;
  };

  before(async () => {
    fs.mkdirSync(home);
    process.env.CLUSTER_HOME = home; // no credentials: plaintext, as for a dev cluster
    server = new grpc.Server();
    server.addService(apiProto().ClusterApi.service, {
      ListReleases: (_call: unknown, callback: (err: null, res: unknown) => void) => callback(null, { releases: [] }),
      Deploy: (call: grpc.ServerReadableStream<{ data?: Buffer }, unknown>, callback: (err: Partial<grpc.StatusObject> | null) => void) => {
        const index = received.push(0) - 1;
        open.push(call);
        const answer = deployAnswer;
        let refused = false;
        call.on('data', (chunk: { data?: Buffer }) => {
          received[index]! += chunk.data?.length ?? 0;
          if (answer === 'refuse' && received[index]! > 0 && !refused) {
            refused = true;
            callback(refusal(INVALID_INPUT, 'this stand-in refuses every slug'));
          }
        });
        call.on('error', () => undefined); // the CLI went away
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
    api = connect(address);
  });

  after(() => {
    api.close();
    server.forceShutdown();
    fs.rmSync(temp, { recursive: true, force: true });
  });

  /** Runs deployDirectory with $TMPDIR set to `dir` (os.tmpdir() reads it on each call). */
  async function deployWithTmpdir(dir: string, appDir: string): Promise<unknown> {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    try {
      return await deployDirectory(api, 'shop', appDir, { quiet: true }).then(() => assert.fail('deployed'), (e: unknown) => e);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  }

  it('leaves nothing in $TMPDIR when packing fails or the control plane refuses the slug', async () => {
    // Packing fails: data.bin grows once node-tar has written its header (it opens it next).
    const appDir = app();
    const file = path.join(appDir, 'data.bin');
    const failing = tmpdir();
    const nodeFs = require('node:fs') as typeof fs; // the module object node-tar calls
    const openFile = nodeFs.open;
    nodeFs.open = ((...args: Parameters<typeof fs.open>) => {
      if (args[0] === file) fs.appendFileSync(file, 'more');
      return (openFile as (...a: unknown[]) => void)(...args);
    }) as typeof fs.open;
    let err: unknown;
    try {
      err = await deployWithTmpdir(failing, appDir);
    } finally {
      nodeFs.open = openFile;
    }
    assert.ok(err instanceof UserError && /^data\.bin changed while it was being packed/.test(err.message), String(err));
    assert.deepEqual(fs.readdirSync(failing), []);

    deployAnswer = 'refuse';
    const refused = tmpdir();
    const answer = await deployWithTmpdir(refused, app());
    assert.match(String((answer as grpc.ServiceError).details), /this stand-in refuses every slug/);
    assert.deepEqual(fs.readdirSync(refused), []);
  });

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`removes the slug and exits ${code} on ${signal} during the upload`, async () => {
      deployAnswer = 'never';
      const dir = tmpdir();
      const before = received.length;
      const child = spawn(process.execPath, [CLI, 'deploy', app(), '-a', 'shop', '--server', address], {
        env: { ...process.env, TMPDIR: dir, CLUSTER_HOME: home },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
      try {
        // Uploading: the whole slug reached the stand-in, which never answers.
        await waitFor('the upload', () => /Uploading /.test(stderr) && received.length > before && received[before]! > 0, 20_000, 20);
        assert.equal(fs.readdirSync(dir).length, 1, 'the slug folder exists while uploading');
        child.kill(signal);
        assert.deepEqual(await exited, { code, signal: null }, stderr);
        assert.deepEqual(fs.readdirSync(dir), [], 'nothing left in $TMPDIR');
      } finally {
        child.kill('SIGKILL');
        for (const call of open.splice(0)) call.destroy();
      }
    });
  }
});
