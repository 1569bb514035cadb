import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LogDirError, positive, storeLimits } from '../../agent/logs/store-options';
import { createLogger } from '../../lib/log';

const logger = createLogger('log-store-options-test', 'silent');
const MiB = 1024 * 1024;

describe('log store options', () => {
  it('fills in every default', () => {
    assert.deepEqual(storeLimits({ dir: '/x', logger }), {
      maxBytesPerInstance: 64 * MiB,
      maxBytesTotal: 1024 * MiB,
      memoryLinesPerInstance: 2000,
      memoryCharsPerInstance: 2 * MiB,
      maxPendingBytesPerInstance: 4 * MiB,
      maxPendingBytesTotal: 32 * MiB,
    });
  });

  it('keeps given values, rounding fractions down but never to 0', () => {
    const limits = storeLimits({ dir: '/x', logger, maxBytesTotal: 1000.9, memoryLinesPerInstance: 0.5, memoryBytesPerInstance: 7 });
    assert.equal(limits.maxBytesTotal, 1000);
    assert.equal(limits.memoryLinesPerInstance, 1);
    assert.equal(limits.memoryCharsPerInstance, 7);
  });

  it('rejects a value that is not a positive number, naming the option', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => storeLimits({ dir: '/x', logger, maxPendingBytesTotal: bad }), {
        name: 'RangeError',
        message: `log store option maxPendingBytesTotal must be a positive number, got ${bad}`,
      });
    }
    assert.throws(() => positive('maxQueuedLines', -5, 10), /maxQueuedLines must be a positive number, got -5/);
    assert.equal(positive('maxQueuedLines', undefined, 10), 10);
  });

  it('names the directory and the cause when the directory cannot be used', () => {
    const err = new LogDirError('/var/lib/cluster/logs', new Error('EACCES: permission denied'));
    assert.equal(err.name, 'LogDirError');
    assert.equal(err.dir, '/var/lib/cluster/logs');
    assert.match(err.message, /^cannot use the log directory \/var\/lib\/cluster\/logs \(EACCES: permission denied\); check that the agent/);
  });
});
