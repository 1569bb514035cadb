/**
 * Lossless logs (docs/logs.md): a process printing a million lines with `seq` (block-buffered,
 * hundreds of lines per write) loses none of them, on disk or at a follower of `cluster logs
 * -f`, in order and with no marker, with the agent's write buffer so small (16 KiB) that the
 * blocking gate works all the time. A type set to `ps:logs TYPE=non-blocking` drops lines
 * instead, and says how many with a marker.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower, SequenceCheck } from '../helpers/log-follower';
import { waitFor } from '../helpers/wait-for';

const TOTAL = 1_000_000;

// Waits for its trigger file, then prints 1..COUNT with seq (4 KiB writes), then idles.
const BURST = `trap 'exit 0' TERM
while [ ! -f "$1/$CLUSTER_INSTANCE.go" ]; do sleep 0.05; done
seq 1 "$2"
sleep 0.5
echo "burst done"
while true; do sleep 1; done
`;

describe('lossless logs', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;

  before(async () => {
    cluster = await TestCluster.start({
      // A 16 KiB write buffer: one 4 KiB write of `seq` (512 lines, ~21 KB as stored) fills it,
      // so the blocking gate pauses the pipe on every read (and the non-blocking type drops
      // on every read). The agent's default disk per instance (64 MiB) keeps the whole burst.
      agents: [{ id: 'host-a', args: ['--log-write-buffer-kib', '16'] }],
      // A 10 s lease, not the harness's 2 s: the burst takes both cores for seconds. Once, on a
      // machine loaded beyond the suite, the burst's instance was stopped and started again
      // mid-burst ("Terminated", then 1, 2, … at the follower); a lease that lapsed on a late
      // heartbeat is the likely cause (not reproduced with five CPU hogs beside it).
      agentTtl: 10,
    });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const dir = cluster.appDir('burst', {
      Procfile: `burst: sh burst.sh ${triggers} ${TOTAL}\nlossy: sh burst.sh ${triggers} 200000\n`,
      'burst.sh': BURST,
    });
    await cluster.deployApp('burst', dir);
    await cluster.ok(['ps:logs', 'lossy=non-blocking', '-a', 'burst']);
    // With no TYPE=…, ps:logs prints the modes.
    assert.match((await cluster.ok(['ps:logs', '-a', 'burst'])).stdout, /^Log modes of burst: lossy=non-blocking; every other type blocking\.$/m);
    assert.deepEqual(await cluster.cliJson(['ps:logs', '-a', 'burst']), { app: 'burst', logModes: { lossy: 'non-blocking' } });
    await cluster.ok(['scale', 'burst=1', 'lossy=1', '-a', 'burst', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('a 1M-line seq burst: every line at a follower and in history, in order, no marker', async () => {
    const live = new SequenceCheck();
    let done = false;
    // -n all: whenever the follower joins, history and live together are the whole output.
    const follower = new LogFollower(cluster, ['-a', 'burst', '--ps', 'burst.1', '-n', 'all', '-f'], (l) => {
      if (l.line === 'burst done') done = true;
      else live.take(l);
    });
    try {
      const started = Date.now();
      fs.writeFileSync(path.join(triggers, 'burst.1.go'), '');
      await waitFor('the follower to receive the whole burst', () => done || follower.child.exitCode !== null, 120_000, 100);
      console.log(`follower: ${TOTAL.toLocaleString('en')} lines in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.deepEqual(live.problems, [], follower.stderr);
      assert.deepEqual(live.markers, []);
      assert.equal(live.next, TOTAL + 1, 'every line arrived');
    } finally {
      await follower.stop();
    }

    const history = new SequenceCheck();
    const reader = new LogFollower(cluster, ['-a', 'burst', '--ps', 'burst.1', '-n', 'all', '--source', 'app'], (l) => {
      if (l.line !== 'burst done') history.take(l);
    });
    assert.equal(await reader.exited, 0, reader.stderr);
    assert.deepEqual(history.problems, []);
    assert.deepEqual(history.markers, []);
    assert.equal(history.next, TOTAL + 1, 'every line is in history');

    // -n above what one answer holds in memory: exactly the last N, streamed.
    // The last 250,001 app lines: 750,001 … 1,000,000 and "burst done".
    const tail = new SequenceCheck(TOTAL - 250_000 + 1);
    const tailReader = new LogFollower(cluster, ['-a', 'burst', '--ps', 'burst.1', '-n', '250001', '--source', 'app'], (l) => {
      if (l.line !== 'burst done') tail.take(l);
    });
    assert.equal(await tailReader.exited, 0, tailReader.stderr);
    assert.equal(tailReader.lines, 250_001);
    assert.deepEqual(tail.problems, []);
    assert.equal(tail.next, TOTAL + 1);
  });

  it('a non-blocking type drops lines when its writer is behind, and a marker counts them, once at a follower too', async () => {
    // A follower from before the burst: it gets the lines live (the dropped ones too, from
    // memory) or from the files when it falls behind, and every marker once either way.
    const followed = { markers: [] as string[], numbers: 0, problems: [] as string[], last: 0, done: false };
    const follower = new LogFollower(cluster, ['-a', 'burst', '--ps', 'lossy.1', '-f'], (l) => {
      if (l.line === 'burst done') followed.done = true;
      else if (l.stream === 'system' && /not written to disk/.test(l.line)) followed.markers.push(l.line);
      else if (l.stream === 'stdout') {
        const n = Number(l.line);
        if (!(n > followed.last) && followed.problems.length < 5) followed.problems.push(`${n} after ${followed.last}`);
        followed.last = n;
        followed.numbers++;
      }
    });
    try {
      // Its history (the instance's "Starting process" line) says it is following.
      await waitFor('the follower to start', () => follower.lines > 0 || follower.child.exitCode !== null, 30_000, 50);
      fs.writeFileSync(path.join(triggers, 'lossy.1.go'), '');
      let kept = 0;
      let dropped = 0;
      let markers: string[] = [];
      let done = false;
      await waitFor('the lossy burst to end', async () => {
        kept = 0;
        dropped = 0;
        markers = [];
        done = false;
        const reader = new LogFollower(cluster, ['-a', 'burst', '--ps', 'lossy.1', '-n', 'all'], (l) => {
          if (l.line === 'burst done') done = true;
          const m = /^(\d+) lines? not written to disk/.exec(l.line);
          if (l.stream === 'system' && m) {
            dropped += Number(m[1]);
            markers.push(l.line);
          } else if (l.stream === 'stdout' && /^\d+$/.test(l.line)) kept++;
        });
        await reader.exited;
        return done;
      }, 60_000, 500);
      console.log(`non-blocking: ${kept} lines kept, ${dropped} dropped with ${markers.length} markers`);
      assert.ok(dropped > 0, 'a 16 KiB write buffer cannot hold a 4 KiB write of seq');
      assert.equal(kept + dropped, 200_000, 'every line is either on disk or counted by a marker');

      await waitFor('the follower to get the whole burst', () => followed.done || follower.child.exitCode !== null, 60_000, 100);
      console.log(`non-blocking, follower: ${followed.numbers} lines, ${followed.markers.length} markers`);
      assert.deepEqual(followed.problems, [], 'in order, none twice');
      assert.deepEqual(followed.markers, markers, "the follower gets each of the files' markers once, in order");
      assert.ok(followed.numbers >= kept, 'it gets every line the files kept');
    } finally {
      await follower.stop();
    }
  });
});
