/**
 * DestroyedApps (control-plane/logs/destroyed-apps.ts): a follow hears that its app was destroyed
 * from the replica's apps mirror, and only then: never from a mirror a step behind its read.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { DestroyedApps } from '../../control-plane/logs/destroyed-apps';
import type { PrefixMirror } from '../../control-plane/etcd/mirror';
import type { AppRecord } from '../../control-plane/records';

const KEY = '/cluster/apps/shop';
const SHOP: AppRecord = { name: 'shop', createdAtMs: 1_000, release: 3 };

/** The parts of a PrefixMirror DestroyedApps reads: revision, decoded values, change and resync. */
class FakeMirror extends EventEmitter {
  revision = 0;
  readonly values = new Map<string, AppRecord>();
  decoded<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
  put(revision: number, record: AppRecord): void {
    this.revision = revision;
    this.values.set(KEY, record);
    this.emit('change', [{ type: 'put', key: KEY }]);
  }
  delete(revision: number): void {
    this.revision = revision;
    this.values.delete(KEY);
    this.emit('change', [{ type: 'delete', key: KEY }]);
  }
}

function setUp(): { mirror: FakeMirror; apps: DestroyedApps } {
  const mirror = new FakeMirror();
  return { mirror, apps: new DestroyedApps(mirror as unknown as PrefixMirror) };
}

describe('a follow told that its app was destroyed', () => {
  it('hears of the destroy once, and not of a new release', () => {
    const { mirror, apps } = setUp();
    mirror.put(10, SHOP);
    let told = 0;
    apps.watch(KEY, SHOP, 10, () => told++);
    mirror.put(11, { ...SHOP, release: 4 });
    assert.equal(told, 0, 'a new release of the same app');
    mirror.delete(12);
    assert.equal(told, 1);
    mirror.put(13, { ...SHOP, createdAtMs: 2_000 });
    mirror.delete(14);
    assert.equal(told, 1, 'once');
  });

  it('decides nothing while the mirror is behind the app it read (a brand-new app)', () => {
    const { mirror, apps } = setUp();
    mirror.revision = 8; // the app, created at 10, not mirrored yet
    let told = 0;
    apps.watch(KEY, SHOP, 10, () => told++);
    mirror.emit('change', [{ type: 'put', key: KEY }]);
    assert.equal(told, 0, 'absent from a mirror at revision 8');
    mirror.put(10, SHOP);
    assert.equal(told, 0);
    mirror.delete(11);
    assert.equal(told, 1);
  });

  it('ends the follow of an app destroyed and created again under the same name', () => {
    const { mirror, apps } = setUp();
    mirror.put(10, SHOP);
    let told = 0;
    apps.watch(KEY, SHOP, 10, () => told++);
    // Both in one watch batch: the mirror shows only the new app.
    mirror.revision = 12;
    mirror.values.set(KEY, { ...SHOP, createdAtMs: 5_000, release: 0 });
    mirror.emit('change', [{ type: 'delete', key: KEY }, { type: 'put', key: KEY }]);
    assert.equal(told, 1);
  });

  it('hears of a destroy the mirror learnt by reading afresh, and at once of one it already shows', () => {
    const { mirror, apps } = setUp();
    mirror.put(10, SHOP);
    let told = 0;
    apps.watch(KEY, SHOP, 10, () => told++);
    mirror.revision = 20;
    mirror.values.delete(KEY);
    mirror.emit('resync');
    assert.equal(told, 1, 'after a resync');
    let late = 0;
    apps.watch(KEY, SHOP, 10, () => late++);
    assert.equal(late, 1, 'a follow that read the app just before the mirror saw it go');
  });

  it('forgets a follow that ended first', () => {
    const { mirror, apps } = setUp();
    mirror.put(10, SHOP);
    let told = 0;
    const cancel = apps.watch(KEY, SHOP, 10, () => told++);
    cancel();
    mirror.delete(11);
    assert.equal(told, 0);
  });
});
