/** The chaos suite's invariant checker on hand-made observations (no processes needed). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { instanceNames, only, snapshot, violations, type Observation } from '../chaos/lib/invariants';
import type { PsInstance } from '../helpers/test-cluster';
import type { InstanceProcess } from '../helpers/instance-processes';

const AGENTS = ['a', 'b', 'c'];

function ps(name: string, host: string | null, pid: number | null, extra: Partial<PsInstance> = {}): PsInstance {
  return { name, type: name.split('.')[0]!, state: 'up', host, pid, restarts: 0, startedAt: null, command: 'sleep 1', reason: '', ...extra };
}

function proc(instance: string, host: string, pgid: number, ppid = 100): InstanceProcess {
  return { app: 'x', instance, host, pgid, pids: [pgid], ppid };
}

/** worker.1..6 spread 2/2/2, ps and processes agreeing. */
function healthy(): Observation {
  const hosts = ['a', 'b', 'c', 'a', 'b', 'c'];
  return {
    at: 0,
    ps: hosts.map((h, i) => ps(`worker.${i + 1}`, h, 1000 + i)),
    procs: hosts.map((h, i) => proc(`worker.${i + 1}`, h, 1000 + i)),
  };
}

const expect = { formation: { worker: 6 }, agents: AGENTS };

describe('chaos invariants', () => {
  it('names instances type.1 … type.N', () => {
    assert.deepEqual(instanceNames({ web: 2, worker: 1 }), ['web.1', 'web.2', 'worker.1']);
  });

  it('accepts a healthy cluster, with and without an unchanged snapshot', () => {
    const obs = healthy();
    assert.deepEqual(violations(obs, expect), []);
    assert.deepEqual(violations(obs, { ...expect, unchanged: snapshot(obs.ps) }), []);
  });

  it('finds an instance running on two hosts and an orphan of no desired instance', () => {
    const obs = healthy();
    obs.procs.push(proc('worker.2', 'c', 2000), proc('worker.7', 'a', 2001, 1));
    const found = violations(obs, expect).join('\n');
    assert.match(found, /running more than once: worker\.2 on b:1001\+c:2000/);
    assert.match(found, /1 processes of no desired instance: worker\.7@a \(orphan\)/);
  });

  it('finds lost instances in ps and on the hosts, and states other than up', () => {
    const obs = healthy();
    obs.ps.pop();
    obs.procs.splice(0, 1);
    obs.ps[1] = ps('worker.2', null, null, { state: 'pending', reason: 'no agents registered' });
    const found = violations(obs, expect).join('\n');
    assert.match(found, /ps lacks 1: worker\.6/);
    assert.match(found, /not running anywhere: worker\.1\n/, 'worker.6 still runs though ps lost it');
    assert.match(found, /1 not up in ps: 1 pending \(no agents registered\)/);
  });

  it('finds ps disagreeing with the hosts', () => {
    const obs = healthy();
    obs.ps[0] = ps('worker.1', 'b', 1000);
    assert.match(violations(obs, expect).join('\n'), /ps disagrees with the hosts: worker\.1 ps b:1000 real a:1000/);
  });

  it('finds an imbalance of more than one per type, and work on hosts outside the given agents', () => {
    const obs = healthy();
    obs.procs[2] = proc('worker.3', 'a', 1002);
    obs.ps[2] = ps('worker.3', 'a', 1002);
    assert.match(violations(obs, expect).join('\n'), /worker unbalanced: a=3 b=2 c=1/);
    assert.deepEqual(violations(obs, { ...expect, balanced: false }), []);
    const found = violations(healthy(), { ...expect, agents: ['a', 'b'] }).join('\n');
    assert.match(found, /running on hosts that should run nothing: worker\.3@c, worker\.6@c/);
  });

  it('finds instances moved or restarted since a snapshot, limited to the names kept', () => {
    const before = snapshot(healthy().ps);
    const obs = healthy();
    obs.ps[0] = ps('worker.1', 'a', 3000, { restarts: 1 });
    obs.procs[0] = proc('worker.1', 'a', 3000);
    assert.match(violations(obs, { ...expect, unchanged: before }).join('\n'), /1 moved or restarted without a fault: worker\.1 a:1000\/r0→a:3000\/r1/);
    assert.deepEqual(violations(obs, { ...expect, unchanged: only(before, (n) => n !== 'worker.1') }), []);
  });
});
