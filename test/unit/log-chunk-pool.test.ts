/** agent/logs/chunk-pool.ts: the disk writers' spare chunks and batch buffers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH_BYTES, ChunkPool } from '../../agent/logs/chunk-pool';
import { FLUSH_BYTES } from '../../agent/logs/disk-writer';

describe('ChunkPool', () => {
  it('reuses chunks and batch buffers given back as views, and keeps nothing else', () => {
    const pool = new ChunkPool();
    const chunk = pool.take(100);
    assert.equal(chunk.length, FLUSH_BYTES);
    pool.release(chunk.subarray(0, 10));
    assert.equal(pool.take(FLUSH_BYTES).buffer, chunk.buffer, 'the chunk came back');

    const batch = pool.take(FLUSH_BYTES + 1);
    assert.equal(batch.length, BATCH_BYTES);
    pool.release(batch.subarray(0, FLUSH_BYTES + 1));
    assert.equal(pool.take(BATCH_BYTES).buffer, batch.buffer, 'the batch buffer came back');

    const big = pool.take(BATCH_BYTES + 1);
    assert.equal(big.length, BATCH_BYTES + 1);
    pool.release(big);
    pool.release(Buffer.from('a marker line\n'));
    assert.notEqual(pool.take(BATCH_BYTES + 1).buffer, big.buffer, 'buffers of other sizes are not kept');
    assert.notEqual(pool.take(10).buffer.byteLength, 8192, 'a small pooled Buffer is never handed out as a chunk');
  });
});
