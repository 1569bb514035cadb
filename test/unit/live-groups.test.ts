/**
 * LiveGroups: whether a stopping instance's group still has a live (non-zombie) member, from
 * one scan of /proc shared by every stopping instance for a second (a scan per instance every
 * poll cost an agent stopping 60 instances its lease).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { LiveGroups, groupHasLiveMembers } from '../../agent/supervisor/process-group';

describe('live process groups', () => {
  let child: ChildProcess;
  let pgid: number;

  before(() => {
    child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    pgid = child.pid!;
  });
  after(() => {
    child.kill('SIGKILL');
  });

  const fake = (groups: () => Set<number>) => {
    let now = 0;
    let scans = 0;
    const live = new LiveGroups(() => {
      scans++;
      return groups();
    }, 1_000, () => now);
    return { live, scans: () => scans, advance: (ms: number) => (now += ms) };
  };

  it('answers every caller within a second from one scan', () => {
    const { live, scans, advance } = fake(() => new Set([pgid]));
    for (let i = 0; i < 60; i++) assert.equal(live.has(pgid, 0), true);
    assert.equal(scans(), 1);
    advance(999);
    live.has(pgid, 0);
    assert.equal(scans(), 1);
    advance(1);
    live.has(pgid, 0);
    assert.equal(scans(), 2);
  });

  it('scans again for a group newer than the last scan rather than calling it dead', () => {
    let groups = new Set<number>();
    const { live, scans, advance } = fake(() => groups);
    assert.equal(live.has(pgid, -1), false, 'the first scan shows no live member: zombies only');
    groups = new Set([pgid]);
    advance(10);
    assert.equal(live.has(pgid, -1), false, 'the same group, known before that scan: the scan stands');
    assert.equal(scans(), 1);
    assert.equal(live.has(pgid, 5), true, 'a group made after the scan is scanned for');
    assert.equal(scans(), 2);
  });

  it('needs no scan for a group that is gone', () => {
    const { live, scans } = fake(() => new Set());
    assert.equal(live.has(2 ** 22 + 12345, 0), false);
    assert.equal(live.has(1, 0), false, 'never pid 1 or below');
    assert.equal(scans(), 0);
  });

  it('reads /proc on this machine', () => {
    assert.equal(groupHasLiveMembers(pgid, performance.now()), true);
  });
});
