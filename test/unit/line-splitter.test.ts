import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../agent/supervisor/line-splitter';

type Piece = [line: string, cut: boolean];

/** Feeds `chunks` through a splitter and returns every piece it emitted, end() included. */
function split(chunks: Array<Buffer | string>, maxLineBytes?: number): Piece[] {
  const pieces: Piece[] = [];
  const splitter = new LineSplitter((line, cut) => pieces.push([line, cut]), maxLineBytes);
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return pieces;
}

describe('LineSplitter', () => {
  it('splits on newlines and delivers empty lines as ""', () => {
    assert.deepEqual(split(['one\n\ntwo\n', '\n']), [
      ['one', false],
      ['', false],
      ['two', false],
      ['', false],
    ]);
  });

  it('delivers a final line without newline on end()', () => {
    assert.deepEqual(split(['first\nlast words']), [
      ['first', false],
      ['last words', false],
    ]);
  });

  it('hands a partial line out as a cut piece on cutOff() (a hand-over: its rest is the next reader\'s)', () => {
    const out: Piece[] = [];
    const splitter = new LineSplitter((line, cut) => out.push([line, cut]));
    splitter.push(Buffer.from('whole\nhal'));
    splitter.cutOff();
    assert.deepEqual(out, [['whole', false], ['hal', true]]);
    splitter.cutOff();
    assert.equal(out.length, 2, 'nothing more: no empty piece');
  });

  it('emits nothing on end() when the stream ended with a newline', () => {
    assert.deepEqual(split(['a\n']), [['a', false]]);
    assert.deepEqual(split([]), []);
  });

  it('strips the \\r of CRLF line endings, also across chunks', () => {
    assert.deepEqual(split(['a\r\nb\r', '\nc\r\n']), [
      ['a', false],
      ['b', false],
      ['c', false],
    ]);
  });

  it('keeps a \\r that does not end a line', () => {
    assert.deepEqual(split(['progress 1\rprogress 2\r', 'x\n']), [['progress 1\rprogress 2\rx', false]]);
    assert.deepEqual(split(['a\r\r\n']), [['a\r', false]]);
  });

  it('replaces invalid UTF-8 instead of throwing', () => {
    const binary = Buffer.from([0x66, 0xff, 0xfe, 0x6f, 0x0a, 0xc3, 0x0a, 0x80, 0x00, 0x0a]);
    assert.deepEqual(split([binary]), [
      ['f\uFFFD\uFFFDo', false],
      ['\uFFFD', false],
      ['\uFFFD\u0000', false],
    ]);
  });

  it('decodes multi-byte characters split across chunks', () => {
    const text = Buffer.from('héllo €uro 😀\n');
    const pieces = split([text.subarray(0, 2), text.subarray(2, 11), text.subarray(11, 15), text.subarray(15)]);
    assert.deepEqual(pieces, [['héllo €uro 😀', false]]);
  });

  it('cuts a long line into pieces of at most maxLineBytes, marking all but the last', () => {
    assert.deepEqual(split(['abcdefghijKLMNOPQRSTuvw\nnext\n'], 10), [
      ['abcdefghij', true],
      ['KLMNOPQRST', true],
      ['uvw', false],
      ['next', false],
    ]);
  });

  it('does not cut a line of exactly maxLineBytes, with or without CRLF', () => {
    assert.deepEqual(split(['abcdefghij\n'], 10), [['abcdefghij', false]]);
    assert.deepEqual(split(['abcdefghij\r\n'], 10), [['abcdefghij', false]]);
    assert.deepEqual(split(['abcdefghij', '\r', '\n'], 10), [['abcdefghij', false]]);
    assert.deepEqual(split(['abcdefghijKLMNOPQRST\n'], 10), [
      ['abcdefghij', true],
      ['KLMNOPQRST', false],
    ]);
  });

  it('cuts an over-long final line that has no newline', () => {
    assert.deepEqual(split(['abcdefghijKL'], 10), [
      ['abcdefghij', true],
      ['KL', false],
    ]);
  });

  it('does not split a multi-byte character when cutting', () => {
    // 9 ASCII bytes then "€" (3 bytes): the cut falls before the euro sign, not inside it.
    assert.deepEqual(split(['aaaaaaaaa€b\n'], 10), [
      ['aaaaaaaaa', true],
      ['€b', false],
    ]);
    const emoji = '😀'.repeat(20); // 4 bytes each
    const pieces = split([`${emoji}\n`], 10);
    assert.ok(pieces.every(([line]) => !line.includes('\uFFFD') && Buffer.byteLength(line) <= 10));
    assert.equal(pieces.map(([line]) => line).join(''), emoji);
  });

  it('gives the same lines wherever the chunk boundaries fall', () => {
    const input = Buffer.from('short\r\n\nélan 😀 vital\n' + 'x'.repeat(25) + '€'.repeat(5) + '\r\nlast\r');
    const expected = split([input], 12);
    assert.ok(expected.length > 5);
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b += 3) {
        const pieces = split([input.subarray(0, a), input.subarray(a, b), input.subarray(b)], 12);
        assert.deepEqual(pieces, expected, `chunks split at ${a} and ${b}`);
      }
    }
    const byteByByte = split([...input].map((byte) => Buffer.from([byte])), 12);
    assert.deepEqual(byteByByte, expected);
  });

  it('never buffers more than the bound for a 20 MB line', () => {
    const max = 16_384;
    const chunk = Buffer.alloc(65_536, 'y');
    const total = 20 * 1024 * 1024;
    let pieces = 0;
    let bytes = 0;
    let lastCut = true;
    const splitter = new LineSplitter((line, cut) => {
      assert.ok(line.length <= max, `a piece of ${line.length} bytes`);
      pieces++;
      bytes += line.length;
      lastCut = cut;
    }, max);
    for (let sent = 0; sent < total; sent += chunk.length) {
      splitter.push(chunk);
      assert.ok(splitter.bufferedBytes <= max, `${splitter.bufferedBytes} bytes buffered`);
    }
    splitter.push(Buffer.from('\n'));
    assert.equal(bytes, total);
    assert.equal(pieces, total / max);
    assert.equal(lastCut, false);
    assert.equal(splitter.bufferedBytes, 0);
  });

  it('rejects a bound too small to hold a character', () => {
    assert.throws(() => new LineSplitter(() => undefined, 3), RangeError);
  });
});

describe('LineSplitter with a LinesHandler (lines as bytes)', () => {
  type Out = ['bytes' | 'string', string, boolean];
  /** Every piece in order, and whether it came as bytes (a LineRun) or as a string. */
  function splitBytes(chunks: Array<Buffer | string>, maxLineBytes?: number): { out: Out[]; runs: number } {
    const out: Out[] = [];
    let runs = 0;
    const splitter = new LineSplitter(
      (line, cut) => out.push(['string', line, cut]),
      maxLineBytes,
      (run) => {
        runs++;
        for (let k = 0; k < run.count; k++) out.push(['bytes', run.chunk.toString('utf8', run.starts[k], run.ends[k]), false]);
      },
    );
    for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    splitter.end();
    return { out, runs };
  }

  it('hands the whole lines of a chunk over as bytes in one call, CRLF stripped', () => {
    const { out, runs } = splitBytes(['one\r\ntwo\n\nthré\n']);
    assert.equal(runs, 1);
    assert.deepEqual(out, [
      ['bytes', 'one', false],
      ['bytes', 'two', false],
      ['bytes', '', false],
      ['bytes', 'thré', false],
    ]);
  });

  it('keeps the order when lines across chunks, cut pieces and a last line without newline come as strings', () => {
    const { out } = splitBytes(['a\nhal', 'f\nb\n' + 'x'.repeat(10) + '\nc\nend'], 8);
    assert.deepEqual(out, [
      ['bytes', 'a', false],
      ['string', 'half', false],
      ['bytes', 'b', false],
      ['string', 'xxxxxxxx', true],
      ['string', 'xx', false],
      ['bytes', 'c', false],
      ['string', 'end', false],
    ]);
  });

  it('a chunk that is not valid UTF-8 takes the string path (invalid bytes replaced, as without a handler)', () => {
    const bad = Buffer.concat([Buffer.from('ok\nbad '), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    const { out, runs } = splitBytes([bad]);
    assert.equal(runs, 0);
    assert.deepEqual(out, [
      ['string', 'ok', false],
      ['string', 'bad \uFFFD\uFFFD', false],
    ]);
  });

  it('a character split across chunks still comes out whole', () => {
    const e = Buffer.from('é');
    const { out } = splitBytes([Buffer.concat([Buffer.from('x\ncaf'), e.subarray(0, 1)]), Buffer.concat([e.subarray(1), Buffer.from('\ny\n')])]);
    assert.deepEqual(out.map((o) => o[1]), ['x', 'café', 'y']);
  });
});
