/**
 * A follower that stops reading while rotation deletes files it had not read yet: when it reads
 * again it continues from the agent's files and gets exactly one marker, counting exactly the
 * lines it lost, then every later line (docs/logs.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { LogFollower } from '../helpers/log-follower';
import { waitFor } from '../helpers/wait-for';

const TOTAL = 300_000;

// "ready", then on the trigger TOTAL numbered 200-byte lines (60 MB: almost four times the
// agent's 16 MiB per instance), then "roll done". The first file is deleted only after ~16 MB:
// well beyond what the buffers between the agent and a stopped follower hold (a few MB), so
// the follower is stopped for good before rotation starts.
const ROLL = `trap 'exit 0' TERM
echo ready
while [ ! -f "$1/go" ]; do sleep 0.05; done
awk -v n="$2" 'BEGIN { pad = sprintf("%190s", ""); for (i = 1; i <= n; i++) printf "%d %s\\n", i, pad }'
echo "roll done"
while true; do sleep 1; done
`;

describe('log rotation under a stopped follower', { timeout: 180_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;

  before(async () => {
    // The production lease TTL (the suite's default is 2 s, for fast failover tests): this test
    // is about the files, and a lease lost on a loaded machine would restart the instance.
    cluster = await TestCluster.start({ agentTtl: 4, agents: [{ id: 'host-a', args: ['--log-mib-per-instance', '16'] }] });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const dir = cluster.appDir('roll', { Procfile: `roll: sh roll.sh ${triggers} ${TOTAL}\n`, 'roll.sh': ROLL });
    await cluster.deployApp('roll', dir);
    await cluster.ok(['scale', 'roll=1', '-a', 'roll', '--wait']);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('marks every gap rotation made with the exact number of lines it removed, and every other line arrives in order', async () => {
    const numbers: number[] = [];
    const markers: string[] = [];
    // Times around each marker: the line before it, its own, the line after it.
    const markerTimes: number[][] = [];
    let lastTime = 0;
    let ready = false;
    let done = false;
    const pidBefore = (await cluster.ps('roll'))[0]?.pid;
    assert.ok(pidBefore, 'roll.1 runs');
    const follower = new LogFollower(cluster, ['-a', 'roll', '--ps', 'roll.1', '-n', '10', '-f'], (l) => {
      const time = Date.parse(l.time);
      const before = lastTime;
      lastTime = time;
      const open = markerTimes.at(-1);
      if (open?.length === 2) open.push(time);
      if (l.line === 'ready') ready = true;
      else if (l.line === 'roll done') done = true;
      else if (l.stream === 'system' && /missed|not written/.test(l.line)) {
        markers.push(l.line);
        markerTimes.push([before, time]);
      } else if (l.stream === 'stdout') numbers.push(Number(l.line.split(' ')[0]));
    });
    try {
      await waitFor('the follower to be streaming', () => ready, 30_000);
      follower.signal('SIGSTOP');
      fs.writeFileSync(path.join(triggers, 'go'), '');
      await waitFor('the burst to be stored', async () => {
        const res = await cluster.cli(['logs', '-a', 'roll', '--ps', 'roll.1', '-n', '1']);
        return res.stdout.includes('roll done');
      }, 90_000, 250);
      follower.signal('SIGCONT');
      await waitFor('the follower to catch up', () => done, 60_000);
    } finally {
      await follower.stop();
    }
    // One marker per lap: while the follower is stopped, the sockets between it and the agent
    // still take a few MB, so the agent's reader can reach its end, fall behind again and be
    // lapped by rotation more than once (docs/logs.md). Each marker stands exactly at its gap.
    // A restart would print the lines again and make the counts below meaningless.
    assert.equal((await cluster.ps('roll'))[0]?.pid, pidBefore, 'roll.1 was not restarted during the burst (see the agent log)');
    assert.ok(markers.length >= 1, 'rotation removed lines the stopped follower had not read');
    const counts = markers.map((text) => {
      const m = /^(\d+) lines? missed \(removed by log rotation/.exec(text);
      assert.ok(m, text);
      return Number(m[1]);
    });
    const gaps: number[] = [];
    assert.equal(numbers[0], 1);
    for (let i = 1; i < numbers.length; i++) {
      assert.ok(numbers[i]! > numbers[i - 1]!, `line ${numbers[i]} after ${numbers[i - 1]}: out of order`);
      if (numbers[i] !== numbers[i - 1]! + 1) gaps.push(numbers[i]! - numbers[i - 1]! - 1);
    }
    assert.deepEqual(gaps, counts, 'each gap has its marker, with its exact count, in order');
    for (const [before, marker, next] of markerTimes) {
      assert.ok(marker! >= before! && (next === undefined || marker! <= next), `a marker's time ${new Date(marker!).toISOString()} lies at its gap`);
    }
    assert.equal(numbers.length + counts.reduce((a, b) => a + b, 0), TOTAL);
    assert.equal(numbers.at(-1), TOTAL);
  });
});
