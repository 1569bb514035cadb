/** The dashboard log pane's merge (lib/log-pane-lines.ts): a reconnect repeats history, the pane shows each line once. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendLines } from '../../lib/log-pane-lines';
import type { LogLine } from '../../dashboard/src/types';

function line(host: string, instance: string, t: number, seq: number, text = `${instance} ${seq}`): LogLine {
  return { t, seq, instance, host, stream: 'stdout', text };
}

/** What the pane shows after these batches, in order. */
function show(batches: LogLine[][], max = 2000): { texts: string[]; added: number[] } {
  let shown: readonly LogLine[] = [];
  const added: number[] = [];
  for (const batch of batches) {
    const next = appendLines(shown, batch, max);
    shown = next.lines;
    added.push(next.added);
  }
  return { texts: shown.map((l) => `${l.host}/${l.text}`), added };
}

describe('the log pane merge', () => {
  const history = Array.from({ length: 200 }, (_, i) => line(i % 2 ? 'a' : 'b', `web.${(i % 2) + 1}`, 1_000 + i, i));

  it('after a reconnect that sends the same 200 history lines, shows each line once', () => {
    const live = [line('a', 'web.2', 1_300, 300), line('b', 'web.1', 1_301, 301)];
    const { texts, added } = show([history, live, history]);
    assert.equal(texts.length, 202);
    assert.equal(new Set(texts).size, 202);
    assert.deepEqual(added, [200, 2, 0]);
  });

  it('after a reconnect adds the lines printed during the gap, after what it showed, in order', () => {
    const before = history.slice(0, 150);
    // The stream of the new connection: its history is the newest 200 lines, 50 of them new.
    const again = [...history.slice(50), line('a', 'web.2', 1_400, 400), line('b', 'web.1', 1_401, 401)].slice(-200);
    const { texts, added } = show([before, again]);
    assert.equal(added[1], 52);
    assert.deepEqual(texts.slice(-2), ['a/web.2 400', 'b/web.1 401']);
    assert.equal(new Set(texts).size, texts.length);
    assert.equal(texts.length, 202);
  });

  it('keeps two lines with the same time and text that differ in seq, host or instance', () => {
    const same = [line('a', 'web.1', 5, 1, 'x'), line('a', 'web.1', 5, 2, 'x'), line('b', 'web.1', 5, 1, 'x'), line('a', 'web.2', 5, 1, 'x')];
    assert.equal(show([same]).texts.length, 4);
    assert.equal(show([same, same]).texts.length, 4);
  });

  it('keeps at most `max` lines, the newest', () => {
    const { texts } = show([history], 50);
    assert.equal(texts.length, 50);
    assert.equal(texts[49], `${history[199]!.host}/${history[199]!.text}`);
  });

  it('returns the same array when a batch adds nothing (no re-render)', () => {
    const first = appendLines([], history, 2000).lines;
    assert.equal(appendLines(first, history.slice(100), 2000).lines, first);
  });
});
