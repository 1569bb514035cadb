import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lastPackedSeq, packLines, unpackLines } from '../../lib/log-packing';

describe('log packing', () => {
  it('writes each line its own seq in runs of consecutive seqs, across carries and a new digit', () => {
    const seqs = [7, 8, 9, 10, 11, 98, 99, 100, 101, 1099, 1100, 5, 6, 9_007_199_254_740_990, 9_007_199_254_740_991, 12];
    const lines = seqs.map((seq, k) => ({ timeMs: 1_764_000_000_000, seq, instance: 'web.1', stream: 'stdout', text: `s${k}`, cut: false }));
    const packed = packLines(lines).toString('utf8').split('\n').filter(Boolean);
    assert.deepEqual(packed.map((l) => l.split('\t')[1]), seqs.map(String));
  });

  it('writes each line its own time when runs of lines share one (digits reused) and when it changes', () => {
    const times = [1_764_000_000_000, 1_764_000_000_000, 1_764_000_000_001, 1_764_000_000_001, 5, 5, 99_999_999_999_999, 1_764_000_000_000];
    const lines = times.map((timeMs, k) => ({ timeMs, seq: 1000 + k, instance: `web.${k % 2}`, stream: 'stdout', text: `t${k}`, cut: false }));
    const packed = packLines(lines).toString('utf8').split('\n').filter(Boolean);
    assert.deepEqual(packed.map((l) => Number(l.split('\t')[0])), times);
    assert.deepEqual(unpackLines(packLines(lines), 'a', 'h').map((l) => l.time_ms), times);
  });

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

  it('writes exactly the documented text form, digit by digit, for any number and text', () => {
    const code = (stream: string, cut: boolean) => {
      const c = stream === 'stdout' ? 'o' : stream === 'stderr' ? 'e' : 's';
      return cut ? c.toUpperCase() : c;
    };
    const lines = [
      { timeMs: 0, seq: 0, instance: 'a', stream: 'stdout', text: 'x', cut: false },
      { timeMs: 9, seq: 10, instance: 'a', stream: 'stderr', text: '', cut: true },
      { timeMs: 99_999_999, seq: 100_000_000, instance: 'b.2', stream: 'system', text: 'crash\r\nthen', cut: false },
      { timeMs: 1_764_500_000_123, seq: Number.MAX_SAFE_INTEGER, instance: 'ü.1', stream: 'stdout', text: '\u{1F600}\t✓', cut: false },
      { timeMs: 12.5, seq: -3, instance: 'b.2', stream: 'other', text: 'odd numbers', cut: false },
    ];
    const want = lines
      .map((l) => `${l.timeMs}\t${l.seq}\t${code(l.stream, l.cut)}\t${l.instance}\t${l.text.replace(/\r?\n/g, ' ')}\n`)
      .join('');
    assert.equal(packLines(lines).toString('utf8'), want);
  });

  it('packs interleaved instances and raw bytes as the text form, past the remembered names', () => {
    const chunk = Buffer.from('first line\nsecond ✓ line\n' + 'x'.repeat(700) + '\n');
    const second = chunk.indexOf('second');
    const third = chunk.indexOf('x');
    const raw = (start: number, end: number) => ({ raw: chunk, rawStart: start, rawEnd: end });
    for (const names of [['web.1', 'wörker.2', 'web.1', 'web.3'], Array.from({ length: 5000 }, (_, i) => `w.${i}`)]) {
      const lines = names.map((instance, i) => ({
        timeMs: 1_764_500_000_000,
        seq: 41 + i,
        instance,
        stream: 'stdout',
        text: 'unused',
        cut: false,
        ...(i % 3 === 0 ? raw(0, 10) : i % 3 === 1 ? raw(second, third - 1) : raw(third, third + 700)),
      }));
      const want = lines.map((l) => `${l.timeMs}\t${l.seq}\to\t${l.instance}\t${chunk.toString('utf8', l.rawStart, l.rawEnd)}\n`).join('');
      assert.equal(packLines(lines).toString('utf8'), want);
    }
  });

  it('reads the seq of the last line, and nothing from a buffer without one', () => {
    const lines = [12, 13, 9_007_199_254_740_991].map((seq) => ({ timeMs: 1_764_000_000_000, seq, instance: 'web.1', stream: 'stdout', text: 'a\tb 77\t', cut: false }));
    assert.equal(lastPackedSeq(packLines(lines)), 9_007_199_254_740_991);
    assert.equal(lastPackedSeq(packLines(lines.slice(0, 1))), 12);
    assert.equal(lastPackedSeq(Buffer.from('1\t42\to\tweb.1\tx')), 42, 'without the final newline');
    for (const bad of ['', '\n', '1764\n', '1764\t\to\tw\tx\n', '1764\t4x2\to\tw\tx\n']) {
      assert.equal(lastPackedSeq(Buffer.from(bad)), undefined, JSON.stringify(bad));
    }
  });
});
