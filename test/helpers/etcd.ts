/** A real etcd for one test file, in a temp dir, on a free loopback port. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
