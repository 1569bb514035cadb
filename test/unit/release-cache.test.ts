/**
 * The agent's release cache against a real gRPC server playing the control plane: a slug
 * whose bytes do not match its digest is never unpacked.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as tar from 'tar';
import { ReleaseCache, SlugDigestMismatchError } from '../../agent/releases/release-cache';
import { createLogger } from '../../lib/log';
import { agentProto } from '../../proto/load';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';

const logger = createLogger('test', 'silent');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('release cache', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'release-cache-'));
  let server: grpc.Server;
  let client: AgentApiClient;
  /** What the fake control plane sends for each digest asked. */
  const served = new Map<string, Buffer>();
  const asked: string[] = [];
  let good: Buffer;
  let other: Buffer;

  const pack = async (name: string, content: string): Promise<Buffer> => {
    const dir = path.join(tmp, `src-${name}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'Procfile'), content);
    const file = path.join(tmp, `${name}.tgz`);
    await tar.c({ gzip: true, cwd: dir, file }, ['Procfile']);
    return fs.readFileSync(file);
  };

  before(async () => {
    good = await pack('good', 'web: ./good\n');
    other = await pack('other', 'web: ./evil\n');
    server = new grpc.Server();
    server.addService(agentProto().AgentApi.service, {
      FetchSlug: (call: grpc.ServerWritableStream<{ digest: string }, unknown>) => {
        asked.push(call.request.digest);
        const bytes = served.get(call.request.digest);
        if (!bytes) return call.emit('error', { code: grpc.status.NOT_FOUND, details: 'no such slug' });
        call.write({ data: bytes, total_size: String(bytes.length) });
        call.end();
      },
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new (agentProto().AgentApi)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client.close();
    server.forceShutdown();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('unpacks a slug whose bytes match its digest', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'agent-'));
    served.set(sha(good), good);
    const dir = await new ReleaseCache(dataDir, client, logger).ensure(sha(good));
    assert.equal(fs.readFileSync(path.join(dir, 'Procfile'), 'utf8'), 'web: ./good\n');
  });

  it('never unpacks bytes that do not match the digest, and asks once more before giving up', async () => {
    const dataDir = fs.mkdtempSync(path.join(tmp, 'agent-'));
    const digest = sha(good);
    served.set(digest, other); // a control plane serving the wrong bytes under this name
    asked.length = 0;
    await assert.rejects(new ReleaseCache(dataDir, client, logger).ensure(digest), SlugDigestMismatchError);
    assert.deepEqual(asked, [digest, digest], 'fetched twice');
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'slugs')), [], 'nothing unpacked, no archive left');
  });

  it('writes its complete marker as a file of its own, never through a symlink of that name in the slug', async () => {
    const victim = path.join(tmp, 'victim');
    fs.writeFileSync(victim, 'outside the slugs\n');
    const src = path.join(tmp, 'src-marker-link');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'Procfile'), 'web: ./x\n');
    fs.symlinkSync(victim, path.join(src, '.cluster-complete'));
    const file = path.join(tmp, 'marker-link.tgz');
    await tar.c({ gzip: true, cwd: src, file, portable: true }, ['Procfile', '.cluster-complete']);
    const bytes = fs.readFileSync(file);
    served.set(sha(bytes), bytes);
    const releases = new ReleaseCache(fs.mkdtempSync(path.join(tmp, 'agent-')), client, logger);
    const dir = await releases.ensure(sha(bytes));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'outside the slugs\n', 'the file the link named is untouched');
    assert.ok(fs.lstatSync(path.join(dir, '.cluster-complete')).isFile());
  });

  it('refuses a malformed digest without asking', async () => {
    asked.length = 0;
    await assert.rejects(new ReleaseCache(fs.mkdtempSync(path.join(tmp, 'agent-')), client, logger).ensure('../x'), /malformed slug digest/);
    assert.deepEqual(asked, []);
  });
});
