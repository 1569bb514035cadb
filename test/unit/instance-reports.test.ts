import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { handoverRecord, statusOf } from '../../agent/instance-reports';
import type { InstanceSnapshot } from '../../agent/supervisor/instance-contract';
import { assignment } from '../helpers/assignments';

const spec = assignment({ instance: 'web.1', type: 'web', release: 3, restart_token: 't1' });

const up: InstanceSnapshot = { state: 'up', pid: 4242, startedAtMs: 1_700_000_000_000, restarts: 2, reason: 'booted' };

describe('instance reports', () => {
  it('statusOf: the snapshot with the assignment it runs and its port', () => {
    assert.deepEqual(statusOf(spec, 5001, up), {
      app: 'shop',
      instance: 'web.1',
      state: 'up',
      pid: 4242,
      started_at_ms: 1_700_000_000_000,
      restarts: 2,
      reason: 'booted',
      release: 3,
      port: 5001,
      restart_token: 't1',
    });
  });

  it('statusOf: a stopped instance reports stopping; an override wins over either', () => {
    const stopped: InstanceSnapshot = { ...up, state: 'stopped', pid: 0 };
    assert.equal(statusOf(spec, 5001, stopped).state, 'stopping');
    assert.equal(statusOf(spec, 5001, stopped, 'gone').state, 'gone');
    assert.equal(statusOf(spec, 0, up, 'crashed').state, 'crashed');
  });

  it('handoverRecord: everything the next agent run needs to adopt the process', () => {
    const run = { spec, specKey: 'k1', port: 5001, cwd: '/srv/slug', command: 'node server.js' };
    const output = { stdout: '/d/fifos/shop/web.1/stdout', stderr: '/d/fifos/shop/web.1/stderr' };
    const record = handoverRecord(run, { snapshot: up, startTicks: 987, crashes: 1 }, output, 30_000);
    assert.deepEqual(record, {
      app: 'shop',
      instance: 'web.1',
      type: 'web',
      spec: { ...spec },
      specKey: 'k1',
      pid: 4242,
      startTicks: 987,
      startedAtMs: 1_700_000_000_000,
      restarts: 2,
      crashes: 1,
      port: 5001,
      cwd: '/srv/slug',
      command: 'node server.js',
      graceMs: 30_000,
      stdout: output.stdout,
      stderr: output.stderr,
    });
    assert.notEqual(record.spec, spec, 'a copy: later changes to the assignment do not leak into a written record');
  });
});
