import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareLines } from '../../control-plane/logs/merge';
import { HistoryMerge } from '../../control-plane/logs/history-merge';
import { StreamedTail } from '../../control-plane/logs/streamed-tail';
import { TailRing } from '../../control-plane/logs/tail-ring';
import type { LogLine__Output } from '../../proto/gen/cluster/logs/LogLine';

const line = (time_ms: number, seq: number, instance: string, host = 'h'): LogLine__Output => ({
  time_ms, seq, instance, host, app: 'a', stream: 'stdout', text: `${instance}@${time_ms}/${seq}`, cut: false,
});

/** A merge that records what it lets out and which hosts it holds back. */
function recorded(maxQueued?: number, maxQueuedText?: number) {
  const out: LogLine__Output[] = [];
  const paused = new Set<string>();
  const events: string[] = [];
  const merge = new HistoryMerge<LogLine__Output>({
    out: (lines) => out.push(...lines),
    pause: (host) => {
      paused.add(host);
      events.push(`pause ${host}`);
    },
    resume: (host) => {
      paused.delete(host);
      events.push(`resume ${host}`);
    },
  }, maxQueued, maxQueuedText);
  return { merge, out, paused, events };
}

describe('merging history from several hosts', () => {
  it('orders by time, then sequence, then instance', () => {
    const lines = [line(5, 1, 'web.1'), line(3, 9, 'worker.2'), line(3, 2, 'worker.1'), line(3, 2, 'clock.1')];
    assert.deepEqual(lines.sort(compareLines).map((l) => l.text), ['clock.1@3/2', 'worker.1@3/2', 'worker.2@3/9', 'web.1@5/1']);
  });

  it('lets a line out only once every host still sending has one queued', () => {
    const { merge, out } = recorded();
    for (const host of ['a', 'b', 'c']) merge.add(host);
    merge.push('a', [1, 4, 7, 10].map((t) => line(t, t, 'web.1', 'a')));
    merge.push('b', [2, 3, 8, 9].map((t) => line(t, t, 'worker.1', 'b')));
    assert.equal(out.length, 0, 'c has sent nothing yet: its first line may be the oldest');
    merge.push('c', [line(0, 1, 'clock.1', 'c')]);
    // c's only line goes first; then c has nothing queued and has not ended: the merge waits again.
    assert.deepEqual(out.map((l) => l.time_ms), [0]);
    merge.end('c');
    // b ran dry after 9: a's 10 waits, since b's next line may be older.
    assert.deepEqual(out.map((l) => l.time_ms), [0, 1, 2, 3, 4, 7, 8, 9]);
    merge.end('a');
    assert.equal(out.length, 8, 'b has not ended');
    assert.equal(merge.done, false);
    merge.end('b');
    assert.deepEqual(out.map((l) => l.time_ms).slice(8), [10]);
    assert.equal(merge.done, true);
  });

  it("keeps each host's own order, even where it is not time order", () => {
    const { merge, out } = recorded();
    merge.add('a');
    merge.add('b');
    // A host whose clock stepped back: its lines still come in its order.
    merge.push('a', [line(5, 1, 'web.1', 'a'), line(3, 2, 'web.1', 'a'), line(9, 3, 'web.1', 'a')]);
    merge.push('b', [line(4, 1, 'worker.1', 'b'), line(6, 2, 'worker.1', 'b')]);
    merge.end('a');
    merge.end('b');
    const ofA = out.filter((l) => l.host === 'a').map((l) => l.seq);
    assert.deepEqual(ofA, [1, 2, 3]);
    assert.equal(out.length, 5);
  });

  it('ends with the lines of hosts that sent nothing or ended early', () => {
    const { merge, out } = recorded();
    merge.add('a');
    merge.add('silent');
    merge.push('a', [line(1, 1, 'web.1', 'a')]);
    assert.equal(out.length, 0);
    merge.end('silent'); // its stream failed, or it was given up on
    assert.equal(out.length, 1);
    merge.push('silent', [line(0, 1, 'web.2', 'silent')]);
    assert.equal(out.length, 1, 'lines after its end are not merged');
  });

  it('pauses a host that runs ahead and resumes it once half of its queue is taken', () => {
    const { merge, out, paused, events } = recorded(10);
    merge.add('fast');
    merge.add('slow');
    merge.push('fast', Array.from({ length: 12 }, (_, i) => line(i * 10, i, 'web.1', 'fast')));
    assert.deepEqual([...paused], ['fast'], 'a full queue holds its host');
    merge.push('slow', [line(35, 1, 'worker.1', 'slow')]);
    // 0, 10, 20, 30 of fast, then slow's 35; slow ran dry, so the merge waits for it again.
    assert.deepEqual(out.map((l) => l.time_ms), [0, 10, 20, 30, 35]);
    assert.deepEqual([...paused], ['fast'], 'fast still holds 8 lines: more than half its bound');
    merge.push('slow', [line(75, 2, 'worker.1', 'slow')]);
    assert.deepEqual(out.map((l) => l.time_ms).slice(5), [40, 50, 60, 70, 75]);
    assert.deepEqual([...paused], [], 'fast is down to 4 lines');
    assert.deepEqual(events, ['pause fast', 'resume fast']);
  });

  it('pauses a host whose queued text reaches its bound, however few its lines', () => {
    const { merge, paused, out } = recorded(1_000, 100);
    merge.add('long');
    merge.add('slow');
    merge.push('long', Array.from({ length: 5 }, (_, i) => ({ ...line(i, i, 'web.1', 'long'), text: 'x'.repeat(30) })));
    assert.deepEqual([...paused], ['long'], '150 units of text queued, over 100');
    merge.push('slow', [line(2.5, 1, 'worker.1', 'slow')]);
    // 0, 1, 2 of long and slow's 2.5: long holds 60 units, more than half its bound: still held.
    assert.deepEqual(out.map((l) => l.time_ms), [0, 1, 2, 2.5]);
    assert.deepEqual([...paused], ['long']);
    merge.push('slow', [line(3.5, 2, 'worker.1', 'slow')]);
    assert.deepEqual(out.map((l) => l.time_ms).slice(4), [3, 3.5]);
    assert.deepEqual([...paused], [], 'down to 30 units: read again');
  });

  it('holds at most its bound per host while one host streams far more than another', () => {
    const { merge, out, paused } = recorded(100);
    merge.add('big');
    merge.add('small');
    let biggest = 0;
    let t = 0;
    // big sends 10,000 lines in batches of 50, but only while it is not paused; small sends
    // one line a round, as a slow host would.
    for (let round = 0; round < 1000 && out.length < 10_000; round++) {
      if (!paused.has('big') && t < 10_000) {
        merge.push('big', Array.from({ length: 50 }, () => line(t, t++, 'web.1', 'big')));
      }
      merge.push('small', [line(round * 20, round, 'worker.1', 'small')]);
      biggest = Math.max(biggest, t - out.filter((l) => l.host === 'big').length);
    }
    merge.end('small');
    merge.end('big');
    assert.ok(biggest <= 150, `big held ${biggest} lines`);
    const big = out.filter((l) => l.host === 'big').map((l) => l.seq);
    assert.deepEqual(big, Array.from({ length: big.length }, (_, i) => i), 'every line of big, in order');
    for (let i = 1; i < out.length; i++) assert.ok(compareLines(out[i - 1]!, out[i]!) <= 0, `merged order at ${i}`);
  });
});

describe('the tail of a merged history', () => {
  it('keeps the last n lines', () => {
    const ring = new TailRing<LogLine__Output>(3, 1_000);
    for (let t = 1; t <= 10; t++) ring.push(line(t, t, 'web.1'));
    assert.equal(ring.asked, 3);
    assert.deepEqual(ring.take().map((l) => l.time_ms), [8, 9, 10]);
  });

  it('keeps fewer when their text passes the bound, and says how many were asked', () => {
    const ring = new TailRing<LogLine__Output>(5, 30);
    for (let t = 1; t <= 10; t++) ring.push({ ...line(t, t, 'web.1'), text: 'x'.repeat(10) });
    assert.equal(ring.asked, 5);
    assert.deepEqual(ring.take().map((l) => l.time_ms), [8, 9, 10]);
    const short = new TailRing<LogLine__Output>(100, 1_000);
    short.push(line(1, 1, 'web.1'));
    assert.equal(short.asked, 1, 'fewer lines than asked exist');
    assert.equal(short.take().length, 1);
  });

  it('keeps a single line longer than the bound, and nothing for n = 0', () => {
    const ring = new TailRing<LogLine__Output>(2, 5);
    ring.push({ ...line(1, 1, 'web.1'), text: 'x'.repeat(50) });
    assert.equal(ring.take().length, 1);
    const none = new TailRing<LogLine__Output>(0, 5);
    none.push(line(1, 1, 'web.1'));
    assert.deepEqual(none.take(), []);
  });

  it('stays in order across many more lines than it keeps', () => {
    const ring = new TailRing<LogLine__Output>(1000, 1e9);
    for (let t = 0; t < 200_000; t++) ring.push(line(t, t, 'web.1'));
    const kept = ring.take();
    assert.equal(kept.length, 1000);
    assert.deepEqual(kept.map((l) => l.time_ms), Array.from({ length: 1000 }, (_, i) => 199_000 + i));
  });
});

describe('-n above what is gathered, across hosts', () => {
  const marker = (t: number): LogLine__Output => ({ ...line(t, t, 'web.1'), stream: 'system', text: '5 lines missed (removed by log rotation before the reader got to them)' });

  it('leaves out the first Σ − N lines of the merged stream, markers aside', () => {
    const tail = new StreamedTail(4);
    tail.firstBatch('a', 3);
    tail.firstBatch('b', 3);
    tail.firstBatch('a', 99); // only the first batch says
    assert.equal(tail.exact, true);
    const merged = [line(1, 1, 'web.1'), marker(2), line(3, 2, 'web.1'), line(4, 3, 'web.1')];
    assert.deepEqual(tail.keep(merged).map((l) => l.time_ms), [2, 4], 'two lines left out, the marker kept');
    assert.deepEqual(tail.keep([line(5, 4, 'web.1'), line(6, 5, 'web.1')]).map((l) => l.time_ms), [5, 6]);
  });

  it('shows every line when the hosts hold fewer than N together', () => {
    const tail = new StreamedTail(10);
    tail.firstBatch('a', 3);
    assert.equal(tail.keep([line(1, 1, 'web.1'), line(2, 2, 'web.1')]).length, 2);
  });

  it('shows every line, and says it is not exact, when a host did not say what it holds', () => {
    const tail = new StreamedTail(1);
    tail.firstBatch('new', 5);
    tail.firstBatch('old', 0);
    assert.equal(tail.exact, false);
    assert.equal(tail.keep([line(1, 1, 'web.1'), line(2, 2, 'web.1')]).length, 2);
  });
});
