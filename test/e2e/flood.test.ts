/**
 * A process that floods output (200 MB of lines, then a 20 MB line without a newline)
 * keeps its agent responsive and its memory bounded, and the cut line is marked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

/** The agent's memory bound under a flood, stated in the README. */
const RSS_BOUND_MB = 200;

const FLOOD = `trap 'exit 0' TERM
yes "$(printf '%099d' 7)" | head -n 2000000
head -c 20000000 /dev/zero | tr '\\0' 'y'
echo
echo "flood done"
while true; do sleep 1; done
`;

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

describe('output floods', { timeout: 240_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }] });
    const dir = cluster.appDir('noisy', { Procfile: 'flood: sh flood.sh\nquiet: sleep 100000\n', 'flood.sh': FLOOD });
    await cluster.deployApp('noisy', dir);
    await cluster.ok(['scale', 'quiet=1', '-a', 'noisy', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it(`keeps the agent under ${RSS_BOUND_MB} MB and answering while a process prints 220 MB`, async (t) => {
    const agentPid = cluster.agents.get('host-a')!.pid;
    let peak = rssMb(agentPid);
    let slowestPsMs = 0;
    const quietPid = (await cluster.ps('noisy')).find((i) => i.name === 'quiet.1')?.pid;
    assert.ok(quietPid, 'quiet.1 runs');
    await cluster.ok(['scale', 'flood=1', '-a', 'noisy']);
    await waitFor('the flood to finish', async () => {
      peak = Math.max(peak, rssMb(agentPid));
      const started = Date.now();
      const ps = await cluster.ps('noisy');
      slowestPsMs = Math.max(slowestPsMs, Date.now() - started);
      const res = await cluster.cli(['logs', '-a', 'noisy', '--ps', 'flood.1', '-n', '3']);
      return ps.length === 2 && res.stdout.includes('flood done');
    }, 120_000, 250);
    peak = Math.max(peak, rssMb(agentPid));
    t.diagnostic(`agent peak RSS ${peak.toFixed(0)} MB; slowest ps during the flood ${slowestPsMs} ms`);
    assert.ok(peak < RSS_BOUND_MB, `agent RSS peaked at ${peak.toFixed(0)} MB`);
    assert.ok(slowestPsMs < 3_000, `ps took ${slowestPsMs} ms during the flood`);
    // The agent kept its lease through the flood (docs/logs.md, "Capture"): had it missed its
    // heartbeats, the control plane would have placed its instances again, with new processes.
    assert.equal((await cluster.ps('noisy')).find((i) => i.name === 'quiet.1')?.pid, quietPid, 'quiet.1 kept its process');
  });

  it('marks the 20 MB line as cut, in pieces of at most 16 KiB', async () => {
    const res = await cluster.cli(['logs', '-a', 'noisy', '--ps', 'flood.1', '-n', '1300', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { line: string; cut?: boolean });
    const pieces = lines.filter((l) => /^y+$/.test(l.line));
    assert.ok(pieces.length > 500, `${pieces.length} pieces of the long line`);
    // When the disk fell behind, the agent says so with a marker line instead of the pieces
    // it could not write; then the line's end may be among them.
    const diskLagged = lines.some((l) => /not written to disk/.test(l.line));
    if (!diskLagged) assert.equal(pieces.at(-1)!.cut, undefined, 'the last piece ends the line');
    assert.ok(pieces.every((l) => Buffer.byteLength(l.line) <= 16 * 1024));
    assert.ok(pieces.slice(0, -1).every((l) => l.cut === true), 'every piece but the last is marked cut');
    const plain = await cluster.cli(['logs', '-a', 'noisy', '--ps', 'flood.1', '-n', '5']);
    assert.match(plain.stdout, /…\(continued\)/);
  });
});
