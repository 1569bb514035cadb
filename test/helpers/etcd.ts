/** A real etcd for one test file, in a temp dir, on a free loopback port. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { startEtcd, type EtcdServer } from '../../lib/etcd-server';

export async function testEtcd(): Promise<EtcdServer & { cleanup(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-etcd-'));
  const etcd = await startEtcd(path.join(dir, 'data'));
  return {
    ...etcd,
    async cleanup() {
      await etcd.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A key prefix of its own for each test, so tests never see each other's keys. */
export function uniquePrefix(): string {
  counter += 1;
  return `/test-${process.pid}-${counter}-${Date.now().toString(36)}/`;
}

/**
 * Test files that run control planes in-process end their process once their tests are
 * done: an etcd3 lease keepalive that outlives its client (docs/stack-notes.md) must not hang the
 * whole suite. It says so on stderr when it has to, so a leak stays visible.
 */
export function exitWhenDone(graceMs = 10_000): void {
  after(() => {
    setTimeout(() => {
      process.stderr.write(`# a handle kept this test process alive ${graceMs} ms after its tests; exiting\n`);
      process.exit(process.exitCode ?? 0);
    }, graceMs).unref();
  });
}

/** What `useEtcd` gives a describe block once its `before` hook has run. */
export interface EtcdFixture {
  url: string;
  client: Etcd3;
  /** A temp dir of its own (a control plane's data dir). */
  dataDir: string;
}

/**
 * Call inside a `describe`: a real etcd, a client and a temp dir for its tests, started
 * before them and cleaned up after.
 */
export function useEtcd(): EtcdFixture {
  const fixture = {} as EtcdFixture;
  let etcd: Awaited<ReturnType<typeof testEtcd>> | undefined;
  before(async () => {
    etcd = await testEtcd();
    fixture.url = etcd.url;
    // The control plane's own client and fault policy (control-plane/etcd/client.ts).
    fixture.client = createEtcdClient([etcd.url]);
    fixture.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-cp-'));
  });
  after(async () => {
    fixture.client?.close();
    await etcd?.cleanup();
    if (fixture.dataDir) fs.rmSync(fixture.dataDir, { recursive: true, force: true });
  });
  return fixture;
}
