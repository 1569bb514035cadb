import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { compareLines, instanceType, matches, type LogLine } from '../../agent/logs/log-line';
import { dirName, encodeInto, encodeLine, genFromFile, LINE_OVERHEAD, nameFromDir, parseLine, parseStoredLine, seqOfLastLine } from '../../agent/logs/log-format';
import { packLines } from '../../lib/log-packing';
import { lastLineSync, readTail } from '../../agent/logs/tail-reader';

const line = (timeMs: number, seq: number, instance = 'web.1', text = ''): LogLine => ({
  timeMs,
  seq,
  app: 'app',
  instance,
  stream: 'stdout',
  text,
  cut: false,
});

describe('log filters', () => {
  it('matches the app, the process type before the dot, and the exact instance', () => {
    assert.equal(matches({ app: 'app' }, 'app', 'web.1'), true);
    assert.equal(matches({ app: 'app' }, 'other', 'web.1'), false);
    assert.equal(matches({ app: 'app', type: 'worker' }, 'app', 'worker.3'), true);
    assert.equal(matches({ app: 'app', type: 'worker' }, 'app', 'workers.3'), false);
    assert.equal(matches({ app: 'app', type: 'work' }, 'app', 'worker.3'), false);
    assert.equal(matches({ app: 'app', instance: 'worker.3' }, 'app', 'worker.3'), true);
    assert.equal(matches({ app: 'app', instance: 'worker.3' }, 'app', 'worker.30'), false);
    assert.equal(matches({ app: 'app', type: 'web', instance: 'worker.3' }, 'app', 'worker.3'), false);
  });

  it('treats empty type and instance as no filter (proto3 defaults)', () => {
    assert.equal(matches({ app: 'app', type: '', instance: '' }, 'app', 'web.1'), true);
  });

  it('takes the type of a name without a dot to be the whole name', () => {
    assert.equal(instanceType('web.1'), 'web');
    assert.equal(instanceType('release'), 'release');
  });
});

describe('compareLines', () => {
  it('orders by time, then seq, then instance', () => {
    const lines = [line(2, 1), line(1, 9), line(1, 5, 'web.2'), line(1, 5, 'web.1')];
    assert.deepEqual(
      [...lines].sort(compareLines).map((l) => [l.timeMs, l.seq, l.instance]),
      [
        [1, 5, 'web.1'],
        [1, 5, 'web.2'],
        [1, 9, 'web.1'],
        [2, 1, 'web.1'],
      ],
    );
    assert.equal(compareLines(line(1, 1), line(1, 1)), 0);
  });
});

describe('log file format', () => {
  it('round-trips every stream, the cut flag, tabs and non-ASCII text', () => {
    const cases: Array<[LogLine['stream'], boolean, string]> = [
      ['stdout', false, 'plain'],
      ['stdout', true, 'cut piece'],
      ['stderr', false, 'a\tb\t\tc'],
      ['stderr', true, ''],
      ['system', false, 'ünïcødé \u{1F600} \uFFFD'],
      ['system', true, '\r'],
    ];
    for (const [stream, cut, text] of cases) {
      const buf = Buffer.from(encodeLine(1_700_000_000_123, 1_700_000_000_123_456, stream, cut, text));
      assert.equal(buf[buf.length - 1], 0x0a);
      assert.deepEqual(parseLine(buf, 0, buf.length - 1, 'app', 'web.1'), {
        timeMs: 1_700_000_000_123,
        seq: 1_700_000_000_123_456,
        app: 'app',
        instance: 'web.1',
        stream,
        text,
        cut,
      });
      assert.equal(seqOfLastLine(buf, 0, buf.length), 1_700_000_000_123_456);
      // Left as bytes, the same line: same fields, same text when asked, same packed form.
      const parsed = parseLine(buf, 0, buf.length - 1, 'app', 'web.1')!;
      const stored = parseStoredLine(buf, 0, buf.length - 1, 'app', 'web.1')!;
      assert.deepEqual([stored.timeMs, stored.seq, stored.app, stored.instance, stored.stream, stored.cut], [parsed.timeMs, parsed.seq, 'app', 'web.1', stream, cut]);
      assert.equal(buf.toString('utf8', stored.rawStart, stored.rawEnd), text);
      assert.equal(packLines([stored]).toString('utf8'), packLines([parsed]).toString('utf8'));
      assert.equal(stored.text, text);
    }
  });

  it('writes the same bytes straight into a buffer as encodeLine does', () => {
    const numbers = [0, 1, 9, 10, 99, 12345, 99_999_999, 100_000_000, 100_000_001, 1_000_000_000, 1_700_000_000_123, 1_700_000_000_123_456, Number.MAX_SAFE_INTEGER];
    const texts = ['', 'x'.repeat(100), 'tab\there', 'ünïcødé \u{1F600}', '\uFFFD'.repeat(50)];
    const buf = Buffer.alloc(1024);
    for (const n of numbers) {
      for (const text of texts) {
        for (const [stream, cut] of [['stdout', false], ['stderr', true], ['system', false]] as const) {
          const end = encodeInto(buf, 7, n, numbers[numbers.length - 1 - numbers.indexOf(n)]!, stream, cut, text);
          const expected = encodeLine(n, numbers[numbers.length - 1 - numbers.indexOf(n)]!, stream, cut, text);
          assert.equal(buf.toString('utf8', 7, end), expected);
          assert.ok(end - 7 <= text.length * 3 + LINE_OVERHEAD);
        }
      }
    }
  });

  it('rejects what is not a whole stored line', () => {
    for (const bad of ['', '123', '123\t456', '123\t456\to', '123\t456\tx\ttext', '12a\t456\to\ttext', '123\t\to\ttext', '123\t456\too\ttext']) {
      const buf = Buffer.from(bad);
      assert.equal(parseLine(buf, 0, buf.length, 'app', 'web.1'), undefined, JSON.stringify(bad));
      assert.equal(parseStoredLine(buf, 0, buf.length, 'app', 'web.1'), undefined, JSON.stringify(bad));
    }
  });

  it('maps names to safe directory names and back', () => {
    for (const name of ['web.1', 'my-app', 'worker_x.12', '..', '.hidden', 'a/b', 'ünï', '']) {
      const dir = dirName(name);
      assert.ok(!dir.includes('/') && dir !== '.' && dir !== '..' && dir.length > 0, dir);
      assert.equal(nameFromDir(dir), name);
    }
    assert.equal(dirName('web.1'), 'web.1');
    assert.equal(nameFromDir('~zz'), undefined);
    assert.equal(genFromFile('12.log'), 12);
    assert.equal(genFromFile('12.log.tmp'), undefined);
  });
});

describe('reading a log file backwards', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-log-tail-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes lines of varied lengths (some longer than a read chunk) to `file`; returns them. */
  function writeFile(file: string, count: number, firstSeq: number, torn = ''): LogLine[] {
    const lines: LogLine[] = [];
    let body = '';
    for (let i = 0; i < count; i++) {
      const len = i % 97 === 0 ? 70_000 + i : (i * 7919) % 300;
      const text = `${i}:` + 'abcdefghij\t'.repeat(Math.ceil(len / 11)).slice(0, len);
      const l = { ...line(1000 + i, firstSeq + i, 'web.1', text) };
      lines.push(l);
      body += encodeLine(l.timeMs, l.seq, l.stream, l.cut, l.text);
    }
    fs.writeFileSync(file, body + torn);
    return lines;
  }

  it('returns the newest lines across chunk boundaries and files, oldest first', async () => {
    const older = writeFile(path.join(dir, '1.log'), 300, 1);
    const newer = writeFile(path.join(dir, '2.log'), 300, 301);
    const all = [...older, ...newer];
    const read = (limit: number, extra: Partial<Parameters<typeof readTail>[0]> = {}) =>
      readTail({ paths: [path.join(dir, '2.log'), path.join(dir, '1.log')], app: 'app', instance: 'web.1', limit, maxChars: Infinity, maxSeq: Infinity, ...extra });
    assert.deepEqual(await read(10), all.slice(-10));
    assert.deepEqual(await read(450), all.slice(-450));
    assert.deepEqual(await read(10_000), all);
    assert.deepEqual(await read(5, { maxSeq: 400 }), all.slice(395, 400));
    assert.deepEqual(await read(1000, { after: all[589] }), all.slice(590));
    const capped = await read(1000, { maxChars: 100_000 });
    assert.deepEqual(capped, all.slice(all.length - capped.length));
    assert.ok(capped.length > 1 && capped.length < 600);
  });

  it('skips a torn last line and stops at a deleted older file', async () => {
    const lines = writeFile(path.join(dir, '5.log'), 50, 1, '1700000000000\t99\to\thalf a li');
    const got = await readTail({
      paths: [path.join(dir, '5.log'), path.join(dir, '4.log')],
      app: 'app',
      instance: 'web.1',
      limit: 100,
      maxChars: Infinity,
      maxSeq: Infinity,
    });
    assert.deepEqual(got, lines);
    const last = lastLineSync(path.join(dir, '5.log'), 'app', 'web.1');
    assert.deepEqual(last, { line: lines[49], endsClean: false });
    writeFile(path.join(dir, '6.log'), 3, 1);
    assert.equal(lastLineSync(path.join(dir, '6.log'), 'app', 'web.1').endsClean, true);
  });
});
