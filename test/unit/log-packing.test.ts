import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packLines, unpackLines } from '../../lib/log-packing';

describe('log packing', () => {
  it('round-trips lines with tabs, unicode, cut pieces and every stream', () => {
    const lines = [
      { timeMs: 1_700_000_000_001, seq: 1_700_000_000_000_001, instance: 'web.1', stream: 'stdout', text: 'a\tb\t', cut: false },
      { timeMs: 1_700_000_000_002, seq: 1_700_000_000_000_002, instance: 'worker.12', stream: 'stderr', text: 'ünïcødé ✓ \u{1F600}', cut: true },
      { timeMs: 1_700_000_000_003, seq: 1_700_000_000_000_003, instance: 'web.1', stream: 'system', text: '', cut: false },
    ];
    const out = unpackLines(packLines(lines), 'shop', 'host-a');
    assert.deepEqual(
      out,
      lines.map((l) => ({ time_ms: l.timeMs, seq: l.seq, app: 'shop', instance: l.instance, stream: l.stream, text: l.text, cut: l.cut, host: 'host-a' })),
    );
  });

  it('keeps one line per line: a newline in a (system) text becomes a space', () => {
    const out = unpackLines(packLines([{ timeMs: 1, seq: 2, instance: 'web.1', stream: 'system', text: 'crashed\nafter', cut: false }]), 'a', 'h');
    assert.equal(out.length, 1);
    assert.equal(out[0]!.text, 'crashed after');
  });

  it('skips malformed lines instead of failing', () => {
    const out = unpackLines(Buffer.from('garbage\n1\t2\to\tweb.1\tok\n'), 'a', 'h');
    assert.deepEqual(out.map((l) => l.text), ['ok']);
  });
});
