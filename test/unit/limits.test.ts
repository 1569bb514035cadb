import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configVarProblem, formatBytes, MAX_COMMAND_BYTES, MAX_CONFIG_VAR_BYTES, MAX_EXEC_BYTES, MAX_PROCFILE_BYTES, releaseSizeProblem, sizeAndLimit } from '../../lib/limits';
import { parseProcfile, ProcfileError } from '../../lib/procfile';
import { chunk, MAX_NESTED_TXNS, MAX_TXN_OPS, MAX_WIDE_TXN_OPS, NESTED_TXN_OPS, txnOps, type WriteOp } from '../../control-plane/etcd/batch';

describe('size limits', () => {
  it('accepts a config var up to the kernel limit of one environment string and refuses one byte more', () => {
    const fits = 'v'.repeat(MAX_CONFIG_VAR_BYTES - 'KEY='.length);
    assert.equal(configVarProblem('KEY', fits), undefined);
    assert.match(configVarProblem('KEY', `${fits}v`) ?? '', /config var `KEY` is 131,072 bytes; at most 131,071 bytes/);
  });

  it('counts bytes, not characters', () => {
    const euros = '€'.repeat(50_000); // 150,000 bytes
    assert.match(configVarProblem('K', euros) ?? '', /146\.5 KiB/);
  });

  it('refuses config and a command that together exceed what one exec may carry', () => {
    const env = { A: 'a'.repeat(100_000), B: 'b'.repeat(100_000) };
    assert.equal(releaseSizeProblem({ web: 'x'.repeat(10_000) }, env), undefined);
    assert.match(releaseSizeProblem({ web: 'x'.repeat(10_000) }, { ...env, C: 'c'.repeat(100_000) }) ?? '', /add up to 302\.8 KiB, more than 256 KiB/);
  });

  it('refuses a command over the limit, naming its type', () => {
    assert.match(releaseSizeProblem({ worker: 'x'.repeat(MAX_COMMAND_BYTES + 1) }, {}) ?? '', /command of process type `worker`/);
  });

  it('refuses a Procfile line over the command limit with its line number, and a Procfile over its size', () => {
    assert.throws(() => parseProcfile(`web: ok\nworker: ${'x'.repeat(MAX_COMMAND_BYTES + 1)}\n`), (err: ProcfileError) => err.line === 2 && /16 KiB/.test(err.message));
    assert.throws(() => parseProcfile(`web: x\n${'# comment\n'.repeat(7_000)}`), /Procfile is 68\.4 KiB; at most 64 KiB/);
  });

  it('formats sizes briefly', () => {
    assert.equal(formatBytes(12), '12 bytes');
    assert.equal(formatBytes(64 * 1024), '64 KiB');
    assert.equal(formatBytes(1024 * 1024), '1 MiB');
  });

  it('never prints a size over a limit as the limit itself', () => {
    assert.equal(formatBytes(16_385), '16.1 KiB');
    assert.deepEqual(sizeAndLimit(16_385, MAX_COMMAND_BYTES), ['16.1 KiB', '16 KiB']);
    assert.deepEqual(sizeAndLimit(MAX_EXEC_BYTES + 1, MAX_EXEC_BYTES), ['256.1 KiB', '256 KiB']);
    assert.match(releaseSizeProblem({ worker: 'x'.repeat(MAX_COMMAND_BYTES + 1) }, {}) ?? '', /is 16\.1 KiB; at most 16 KiB is allowed/);
    // Each var counts its name, `=` and NUL: 3 bytes more than its value.
    const env = { A: 'a'.repeat(100_000), B: 'b'.repeat(100_000), C: 'c'.repeat(MAX_EXEC_BYTES - 100 - 2 * 100_003 - 3) };
    assert.match(releaseSizeProblem({ web: 'x'.repeat(101) }, env) ?? '', /add up to 256\.1 KiB, more than 256 KiB/);
    assert.throws(() => parseProcfile(`web: x\n#${'c'.repeat(MAX_PROCFILE_BYTES - 7)}`), /Procfile is 64\.1 KiB; at most 64 KiB is allowed/);
  });
});

describe('transactions cut by size', () => {
  const put = (n: number, bytes: number): WriteOp => ({ put: `k${n}`, value: 'v'.repeat(bytes) });

  it('cuts by operation count and by bytes, whichever comes first', () => {
    assert.deepEqual(chunk(Array.from({ length: 300 }, (_, i) => put(i, 10)), 128, 1 << 20).map((c) => c.length), [128, 128, 44]);
    // 40 assignments of 120 KB each: 8 per MiB-sized transaction.
    const sizes = chunk(Array.from({ length: 40 }, (_, i) => put(i, 120_000)), 128, 1 << 20).map((c) => c.length);
    assert.deepEqual(sizes, [8, 8, 8, 8, 8]);
  });

  it('keeps an operation larger than the limit alone rather than dropping it', () => {
    assert.deepEqual(chunk([put(1, 10), put(2, 2 << 20), put(3, 10)], 128, 1 << 20).map((c) => c.length), [1, 1, 1]);
  });

  it('starts a new transaction at a key already in it, and keeps a range delete alone (etcd refuses overlaps)', () => {
    const ops: WriteOp[] = [put(1, 10), put(2, 10), put(1, 10), { delete: 'k', prefix: true }, put(3, 10), put(4, 10)];
    assert.deepEqual(chunk(ops, 128, 1 << 20).map((c) => c.length), [2, 1, 1, 2]);
  });

  it('nests the operations of a wide transaction so that every level stays within 128', () => {
    const ops = Array.from({ length: MAX_WIDE_TXN_OPS }, (_, i) => put(i, 1));
    const nested = txnOps(ops, [{ key: Buffer.from('fence'), target: 'Create', result: 'Equal', create_revision: '1' }]);
    assert.equal(nested.length, MAX_NESTED_TXNS);
    for (const op of nested) assert.equal(op.request_txn?.success?.length, NESTED_TXN_OPS);
    assert.ok(MAX_NESTED_TXNS + NESTED_TXN_OPS <= MAX_TXN_OPS);
    // Small enough for the top level: as it is.
    assert.equal(txnOps(ops.slice(0, 127), [])[0]?.request_put?.key?.toString(), 'k0');
    assert.throws(() => txnOps([...ops, put(9_999, 1)]), /transaction too large/);
  });
});
