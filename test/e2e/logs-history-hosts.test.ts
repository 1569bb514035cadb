/**
 * `cluster logs -n` over a history spread across hosts: the hosts' lines merged by time
 * whatever N, and N applied to the merged result both where the control plane gathers the
 * history (up to 100,000 lines) and where the hosts stream it (above, and `-n all`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

interface JsonLine {
  time: string;
  instance: string;
  host: string;
  stream: string;
  line: string;
}

const PER_INSTANCE = 60_000;

describe('cluster logs -n across hosts', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let every: JsonLine[] = [];

  const read = async (n: string) => {
    const res = await cluster.cli(['logs', '-a', 'many', '-n', n, '--json']);
    assert.equal(res.code, 0, res.stderr);
    return { stderr: res.stderr, lines: res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine) };
  };
  const key = (l: JsonLine) => `${l.host}/${l.instance}/${l.time}/${l.line}`;

  before(async () => {
    // A long lease: a restarted printer would print its lines twice, on a loaded machine too.
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }], agentTtl: 20 });
    await cluster.deployProcfile('many', `printer: seq 1 ${PER_INSTANCE} && exec sleep 100000\n`);
    await cluster.scale('many', { printer: 2 });
    // Up first: its "State changed from starting to up" line (2 s in) must not land between reads.
    await cluster.waitForPs('many', 'both printers up', (ps) => ps.filter((i) => i.state === 'up').length === 2, 30_000);
    await waitFor(`${2 * PER_INSTANCE} lines stored`, async () => {
      every = (await read('all')).lines;
      return every.filter((l) => l.stream === 'stdout').length === 2 * PER_INSTANCE;
    }, {
      timeoutMs: 60_000,
      describe: () => `${every.filter((l) => l.stream === 'stdout').length} stdout lines; instances on ${[...new Set(every.map((l) => `${l.instance}@${l.host}`))].join(' ')}`,
    });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('merges -n all of every host by time', () => {
    assert.equal(new Set(every.map((l) => l.host)).size, 2, 'one printer on each host');
    for (let i = 1; i < every.length; i++) assert.ok(every[i - 1]!.time <= every[i]!.time, `time order at line ${i}`);
    for (const instance of ['printer.1', 'printer.2']) {
      const mine = every.filter((l) => l.instance === instance && l.stream === 'stdout').map((l) => l.line);
      assert.deepEqual(mine, Array.from({ length: PER_INSTANCE }, (_, i) => String(i + 1)), `every line of ${instance}, in order`);
    }
  });

  it('shows the last N of the merged history, gathered (N ≤ 100,000) or streamed (N above)', async () => {
    for (const n of [50_000, 100_001]) {
      const last = await read(String(n));
      assert.equal(last.stderr, '', `-n ${n}`);
      assert.equal(last.lines.length, n, `-n ${n}`);
      assert.deepEqual(last.lines.map(key), every.slice(-n).map(key), `-n ${n}`);
    }
  });
});
