import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { copyBytes } from '../../lib/byte-copy';

describe('copyBytes', () => {
  // Bytes that would be NaN bit patterns as floats, and every byte value.
  const src = Buffer.alloc(2048);
  for (let i = 0; i < src.length; i++) src[i] = (i * 131 + 7) & 0xff;
  src.fill(0xff, 100, 116);
  src.fill(0x7f, 200, 208);

  it('copies what buf.copy copies, for every length around the word size and past the loop', () => {
    for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 511, 512, 513, 1500]) {
      for (const start of [0, 1, 3, 98, 101]) {
        if (start + len > src.length) continue;
        for (const off of [0, 1, 6]) {
          const want = Buffer.alloc(2100, 0xaa);
          const got = Buffer.alloc(2100, 0xaa);
          src.copy(want, off, start, start + len);
          assert.equal(copyBytes(src, start, start + len, got, off), off + len, `len ${len} start ${start} off ${off}`);
          assert.deepEqual(got, want, `len ${len} start ${start} off ${off}`);
        }
      }
    }
  });

  it('copies views that start inside a larger buffer, alternating sources and destinations', () => {
    const big = Buffer.from(src);
    const a = big.subarray(10, 600);
    const b = big.subarray(700, 1300);
    const outBig = Buffer.alloc(4096, 0);
    const outA = outBig.subarray(33, 1000);
    const outB = outBig.subarray(2000, 3000);
    let offA = 0;
    let offB = 0;
    for (let i = 0; i < 20; i++) {
      offA = copyBytes(i % 2 ? a : b, i, i + 23, outA, offA);
      offB = copyBytes(i % 2 ? b : a, i, i + 23, outB, offB);
    }
    let wantA = Buffer.alloc(0);
    let wantB = Buffer.alloc(0);
    for (let i = 0; i < 20; i++) {
      wantA = Buffer.concat([wantA, (i % 2 ? a : b).subarray(i, i + 23)]);
      wantB = Buffer.concat([wantB, (i % 2 ? b : a).subarray(i, i + 23)]);
    }
    assert.deepEqual(outA.subarray(0, offA), wantA);
    assert.deepEqual(outB.subarray(0, offB), wantB);
    assert.equal(outBig[32], 0, 'nothing written before the destination view');
  });

  it('throws instead of writing past the destination', () => {
    const dst = Buffer.alloc(50);
    assert.throws(() => copyBytes(src, 0, 60, dst, 0), RangeError);
    assert.throws(() => copyBytes(src, 0, 600, Buffer.alloc(500), 0), RangeError);
  });
});
