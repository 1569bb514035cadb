import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readUtf8, writeUtf8 } from '../../lib/buffer-utf8';

describe('buffer UTF-8 helpers', () => {
  const texts = ['', 'plain', 'tab\tand \\ " quotes', 'ünïcødé ✓ \u{1F600}', 'lone \uD800 surrogate', 'x'.repeat(20_000)];

  it('write the same bytes as buf.write(s, off, "utf8")', () => {
    for (const s of texts) {
      const a = Buffer.alloc(s.length * 3 + 16, 0xaa);
      const b = Buffer.alloc(s.length * 3 + 16, 0xaa);
      assert.equal(writeUtf8(a, s, 5), b.write(s, 5, 'utf8'));
      assert.deepEqual(a, b);
    }
  });

  it('read the same string as buf.toString("utf8", start, end), invalid bytes included', () => {
    const buf = Buffer.concat([Buffer.from('héllo '), Buffer.from([0xff, 0xc3, 0x28, 0xe2, 0x82]), Buffer.from(' ✓ end')]);
    for (let start = 0; start <= buf.length; start += 3) {
      for (let end = start; end <= buf.length; end += 2) assert.equal(readUtf8(buf, start, end), buf.toString('utf8', start, end));
    }
  });
});
