/** cli/output/table.ts: aligned columns whose cells are one line of plain text each. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../../cli/output/table';

describe('renderTable', () => {
  it('aligns columns, two spaces apart, headers in capitals', () => {
    assert.equal(renderTable(['name', 'state'], [['web.1', 'up'], ['worker.10', 'crashed']]), 'NAME       STATE\nweb.1      up\nworker.10  crashed');
  });

  it('shows control characters as escapes, so a cell never spans lines or drives the terminal', () => {
    const table = renderTable(['version', 'description'], [['v2', 'two\nlines'], ['v3', '\x1b[2Jcleared\ttab']]);
    assert.equal(table, 'VERSION  DESCRIPTION\nv2       two\\nlines\nv3       \\x1b[2Jcleared\\ttab');
  });

  it('cuts a cell at 200 characters with …, so one long value does not pad every row', () => {
    const table = renderTable(['v', 'description', 'slug'], [['v1', 'x'.repeat(100_000), 'abc']]);
    const row = table.split('\n')[1]!;
    assert.equal(row, `v1  ${'x'.repeat(199)}…  abc`);
  });
});
