/**
 * A --server where something other than a control plane answers: the CLI says so, exit 2 (the
 * cluster could not be reached), instead of "the control plane … failed", exit 3. The server here
 * answers as etcd's client port does (a gRPC server without the cluster's services) or as an HTTP
 * server does; one that answers as a control plane of another version (grpc-js: a method it lacks)
 * is still a control plane that failed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, runCli, clusterCommand } from '../helpers/cluster-binary';

/** How the server answers every request. */
let answer: (stream: http2.ServerHttp2Stream, path: string) => void;
let server: http2.Http2Server;
let address: string;
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'not-a-control-plane-'));

/** A gRPC answer with no message: the status in the headers (a "trailers-only" response). */
function grpcStatus(code: number, message: string): (stream: http2.ServerHttp2Stream) => void {
  return (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': message }, { endStream: true });
  };
}

async function cluster(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, CLUSTER_HOME: home, NO_COLOR: '1' };
  delete env.CLUSTER_SERVER;
  return runCli(clusterCommand(['--server', address, ...args], [], CLI), env);
}

describe('a --server where no control plane answers', () => {
  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => answer(stream, String(headers[':path'])));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('a gRPC server without the cluster\'s services (etcd\'s client port): something else answers, exit 2', async () => {
    answer = (stream, p) => grpcStatus(12, `unknown service ${p.split('/')[1]!}`)(stream);
    const res = await cluster(['apps']);
    assert.equal(res.code, 2, res.stderr);
    assert.equal(res.stderr, `error: something else answers at ${address} (unknown service cluster.api.ClusterApi): it is not a cluster control plane; check --server or CLUSTER_SERVER\n`);
    assert.equal(res.stdout, '');
  });

  for (const status of [404, 400, 403]) {
    it(`an HTTP server answering ${status}: something else answers, exit 2`, async () => {
      answer = (stream) => {
        stream.respond({ ':status': status, 'content-type': 'text/html' });
        stream.end('<h1>hello</h1>');
      };
      const res = await cluster(['ps', '-a', 'shop']);
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stderr, `error: something else answers at ${address} (HTTP status ${status}): it is not a cluster control plane; check --server or CLUSTER_SERVER\n`);
    });
  }

  it('a control plane that lacks a method (another version) still failed: exit 3, not "something else"', async () => {
    answer = (stream, p) => grpcStatus(12, `The server does not implement the method ${p}`)(stream);
    const res = await cluster(['apps']);
    assert.equal(res.code, 3, res.stderr);
    assert.match(res.stderr, /^error: the control plane at \S+ failed: The server does not implement the method \/cluster\.api\.ClusterApi\/ListApps\n$/);
  });
});
