import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceLog } from '../../agent/logs/instance-log';
import { OutputGates } from '../../agent/logs/output-gates';

/** An instance's gate part: blocked while `behind` and blocking; resumers wait until it opens. */
class FakeInstance {
  blocking = false;
  behind = false;
  resumers: Array<() => void> = [];
  openGateCalls = 0;
  constructor(private readonly gates: () => OutputGates) {}
  setBlocking(b: boolean): void {
    this.blocking = b;
  }
  blocked(): boolean {
    return this.blocking && this.behind;
  }
  whenOpen(resume: () => void): void {
    if (!this.blocked()) return resume();
    this.resumers.push(resume);
    this.gates().wait(this as unknown as InstanceLog);
  }
  openGate(): boolean {
    this.openGateCalls++;
    if (this.blocked()) return false;
    for (const r of this.resumers.splice(0)) r();
    return true;
  }
}

function setup() {
  const table = new Map<string, FakeInstance>();
  const gates: OutputGates = new OutputGates((app, instance) => table.get(`${app}/${instance}`) as unknown as InstanceLog | undefined);
  const make = (name: string) => {
    const inst = new FakeInstance(() => gates);
    table.set(`app/${name}`, inst);
    return inst;
  };
  return { table, gates, make };
}

describe('output gates', () => {
  it('remembers the mode by name, for instances made later; non-blocking by default', () => {
    const { gates } = setup();
    assert.equal(gates.blocking('app', 'web.1'), false);
    gates.gate('app', 'web.1', true);
    assert.equal(gates.blocking('app', 'web.1'), true);
    assert.equal(gates.blocking('app', 'web.2'), false);
    assert.equal(gates.blocking('other', 'web.1'), false);
    gates.gate('app', 'web.1', false);
    assert.equal(gates.blocking('app', 'web.1'), false);
  });

  it('sets the mode of an instance that exists, and follows the instance now under that name', () => {
    const { gates, make, table } = setup();
    const first = make('web.1');
    const gate = gates.gate('app', 'web.1', true);
    assert.equal(first.blocking, true);
    first.behind = true;
    assert.equal(gate.blocked(), true);
    // Forgotten: an open gate that resumes at once.
    table.delete('app/web.1');
    assert.equal(gate.blocked(), false);
    let resumed = 0;
    gate.whenOpen(() => resumed++);
    assert.equal(resumed, 1);
    // Made again (the store sets its mode from gates.blocking): the gate asks the new one.
    const second = make('web.1');
    second.setBlocking(gates.blocking('app', 'web.1'));
    second.behind = true;
    assert.equal(gate.blocked(), true);
  });

  it('a write lets waiting readers go once their instance is no longer behind, and forgets it then', () => {
    const { gates, make } = setup();
    const inst = make('web.1');
    const gate = gates.gate('app', 'web.1', true);
    inst.behind = true;
    let resumed = 0;
    gate.whenOpen(() => resumed++);
    assert.equal(resumed, 0);
    gates.wrote();
    assert.equal(resumed, 0, 'still behind: still waiting');
    assert.equal(inst.openGateCalls, 1);
    inst.behind = false;
    gates.wrote();
    assert.equal(resumed, 1);
    gates.wrote();
    assert.equal(inst.openGateCalls, 2, 'an instance nobody waits for is not asked again');
  });
});
