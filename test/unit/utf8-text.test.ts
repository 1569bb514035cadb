/** Where a file stops being UTF-8: the same verdict as TextDecoder's fatal mode, at the first bad byte. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { invalidUtf8Offset, utf8Problem } from '../../lib/utf8-text';

const bytes = (...values: number[]) => Uint8Array.from(values);

describe('invalidUtf8Offset', () => {
  it('finds the first byte of a bad sequence', () => {
    for (const [input, offset] of [
      [bytes(0x61, 0x62), -1],
      [Buffer.from('é☕🚀'), -1],
      [bytes(0x61, 0xe9, 0x62), 1], // Latin-1 é
      [bytes(0x61, 0xc3), 1], // cut short at the end
      [bytes(0xc0, 0xaf), 0], // overlong `/`
      [bytes(0xe0, 0x80, 0xaf), 0], // overlong, three bytes
      [bytes(0x61, 0xed, 0xa0, 0x80), 1], // a UTF-16 surrogate
      [bytes(0xf4, 0x90, 0x80, 0x80), 0], // past U+10FFFF
      [bytes(0xe2, 0x98, 0x95, 0x80), 3], // a lone continuation byte after ☕
    ] as const) {
      assert.equal(invalidUtf8Offset(input), offset, Buffer.from(input).toString('hex'));
    }
  });

  it('agrees with TextDecoder on every two-byte input', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        const input = bytes(a, b);
        let valid = true;
        try {
          decoder.decode(input);
        } catch {
          valid = false;
        }
        assert.equal(invalidUtf8Offset(input) < 0, valid, Buffer.from(input).toString('hex'));
      }
    }
  });
});

describe('utf8Problem', () => {
  it('names the line (LF, CRLF or CR endings) and the byte in it and in the file', () => {
    assert.equal(utf8Problem('Procfile', Buffer.from('web: a\n')), undefined);
    assert.equal(
      utf8Problem('Procfile', Buffer.from('a: 1\r\nb: 2\rc: \xff\n', 'latin1')),
      'Procfile line 3: byte 4 (0xff, byte 15 of the file) is not UTF-8: save the file as UTF-8',
    );
  });
});
