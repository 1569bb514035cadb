import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packLines, eachPacked, type UnpackedLine } from '../../lib/log-packing';
import { PackedJsonWriter } from '../../cli/output/log-json';

/** The documented `--json` line (docs/cli.md), made the slow way. */
function reference(l: UnpackedLine): string {
  const obj: Record<string, unknown> = {
    time: new Date(l.time_ms).toISOString(),
    app: l.app,
    instance: l.instance,
    host: l.host,
    stream: l.stream,
    source: l.stream === 'system' ? 'system' : 'app',
    line: l.text,
  };
  if (l.cut) obj.cut = true;
  return JSON.stringify(obj) + '\n';
}

function referenceOf(packed: Buffer, app: string, host: string): string {
  let out = '';
  eachPacked(packed, app, host, (l) => (out += reference(l)));
  return out;
}

/** Every byte below 0x80 that JSON escapes, and some that it does not, plus multi-byte text. */
const TEXTS = [
  '',
  'plain ascii line',
  'quote " backslash \\ slash / tab \t',
  Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('').replace(/\n/g, ''),
  'del \u007f and latin-1 \u00e9\u00ff',
  'ünïcødé ✓ \u{1F600} \u2028 \u2029',
  'x'.repeat(5000),
  '\\"'.repeat(300),
];

describe('--json output from packed batches', () => {
  it('is byte for byte JSON.stringify of the documented object, for every stream, cut pieces and odd text', () => {
    const lines = [];
    let seq = 1_700_000_000_000_000;
    for (const [k, text] of TEXTS.entries()) {
      for (const stream of ['stdout', 'stderr', 'system']) {
        lines.push({ timeMs: 1_700_000_000_000 + (k >> 1), seq: seq++, instance: k % 3 === 0 ? 'web.1' : `worker.${k}`, stream, text, cut: k % 2 === 1 });
      }
    }
    const packed = packLines(lines);
    const writer = new PackedJsonWriter(reference);
    const got = writer.format(packed, 'shop', 'host-a').toString('utf8');
    assert.equal(got, referenceOf(packed, 'shop', 'host-a'));
    // Every line is there, and each one parses as JSON.
    assert.equal(got.split('\n').length - 1, lines.length);
    for (const row of got.trimEnd().split('\n')) JSON.parse(row);
  });

  it('keeps names and times right across batches of different apps, hosts and many instances', () => {
    const writer = new PackedJsonWriter(reference);
    for (let batch = 0; batch < 6; batch++) {
      const lines = Array.from({ length: 40 }, (_, i) => ({
        timeMs: 1_700_000_000_000 + (i >> 2),
        seq: batch * 100 + i,
        instance: `w"eb\\.${(i * 7 + batch) % 23}`,
        stream: i % 5 === 0 ? 'system' : 'stdout',
        text: `line ${i} of batch ${batch}`,
        cut: false,
      }));
      const packed = packLines(lines);
      const app = batch % 2 === 0 ? 'shop' : 'sh"op';
      const host = `host-${batch % 3}`;
      assert.equal(writer.format(packed, app, host).toString('utf8'), referenceOf(packed, app, host));
    }
  });

  it('skips malformed lines as the string path does, and prints odd ones (unknown stream, non-digit time) the same way', () => {
    const packed = Buffer.from(
      [
        'garbage',
        '1700000000000\t1\to\tweb.1\tok',
        '1700000000000\t2\tx\tweb.1\tunknown stream code',
        '1700000000000\t3\tO\tweb.1\tcut piece',
        '17e11\t4\te\tweb.1\ttime in exponent form',
        '1700000000000\t5\too\tweb.1\ttwo-letter code',
        '1700000000000\t6\t\u00e9\tweb.1\tmulti-byte code',
        '253402300799999\t7\to\tweb.1\tthe last millisecond of year 9999',
        '253402300800000\t8\to\tweb.1\tyear 10000: a longer ISO time',
        '1700000000000\t9\to\tweb.1\tback to a short time',
        '',
        '1700000000001\t10\ts\tweb.1\tlast, no newline',
      ].join('\n'),
      'utf8',
    );
    const writer = new PackedJsonWriter(reference);
    assert.equal(writer.format(packed, 'a', 'h').toString('utf8'), referenceOf(packed, 'a', 'h'));
  });

  it('prints bytes that are not UTF-8 as the string path does (U+FFFD)', () => {
    const packed = Buffer.concat([Buffer.from('1700000000000\t1\to\tweb.1\tbad '), Buffer.from([0xff, 0xc3, 0x28]), Buffer.from(' end\n')]);
    const writer = new PackedJsonWriter(reference);
    const got = writer.format(packed, 'a', 'h').toString('utf8');
    assert.equal(got, referenceOf(packed, 'a', 'h'));
    assert.match(got, /\uFFFD/);
  });

  it('leaves a result untouched until it is given back, then reuses its memory', () => {
    const writer = new PackedJsonWriter(reference);
    const batch = (text: string) => packLines([{ timeMs: 1, seq: 1, instance: 'web.1', stream: 'stdout', text, cut: false }]);
    const a = writer.format(batch('one'), 'a', 'h');
    const copy = Buffer.from(a);
    const b = writer.format(batch('two'), 'a', 'h');
    assert.deepEqual(a, copy, 'not given back: not overwritten');
    assert.ok(a.buffer !== b.buffer);
    writer.recycle(b);
    const c = writer.format(batch('six'), 'a', 'h');
    assert.ok(c.buffer === b.buffer, 'given back: reused');
    assert.equal(c.toString(), referenceOf(batch('six'), 'a', 'h'));
    writer.recycle(a); // not the last result: ignored
    assert.ok(writer.format(batch('ten'), 'a', 'h').buffer !== a.buffer);
  });
});
