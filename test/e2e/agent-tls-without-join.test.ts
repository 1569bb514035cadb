/**
 * An agent that never joined, in front of a control plane with TLS: it cannot register until
 * it joins, so it is told so instead of "control plane unreachable" for ever. Started against
 * such a control plane it exits 1 naming `cluster agent join`; started while the control plane
 * is down it waits, and says it as an error once the control plane answers with TLS. `cluster
 * agents` with none suggests a join token rather than `agent start` there.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../lib/free-port';
import { TestCluster } from '../helpers/test-cluster';
import { sleep, waitFor } from '../helpers/wait-for';

describe('an agent without a certificate against a control plane with TLS', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('`cluster agents` with none suggests a join token, not `agent start`', async () => {
    const res = await cluster.cli(['agents']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /No agents registered\. The control plane runs with TLS: make a join token with `cluster agents:token`, then on the server run `cluster agent join --server HOST:PORT/);
    assert.doesNotMatch(res.stdout, /cluster agent start/);
  });

  it('refuses to start, exit 1, naming the join to do first', async () => {
    const res = await cluster.cli(['agent', 'start', '--server', cluster.server, '--name', 'nojoin', '--data-dir', path.join(cluster.dir, 'nojoin'), '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    assert.equal(res.code, 1, res.stderr);
    const join = `cluster agent join --server ${cluster.server} --token T --ca-hash H`;
    assert.ok(res.stderr.includes(`error: the control plane at ${cluster.server} requires TLS and this agent has no certificate: join first with \`${join}\``), res.stderr);
    assert.match(res.stderr, /`cluster agents:token`/);
  });

  it('started while the control plane is down, waits, then says the control plane requires TLS once it answers', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const agent = cluster.startAgent({ id: 'waiter', server: address });
    await sleep(2_000);
    assert.ok(agent.running, `the agent waits for a control plane that is down; see ${agent.log}`);
    const said = /"level":"?(error|50)"?.*requires TLS and this agent has no certificate: join first with `cluster agent join --server 127\.0\.0\.1:\d+ --token T --ca-hash H`/;
    assert.doesNotMatch(fs.readFileSync(agent.log, 'utf8'), /requires TLS/, 'a control plane that is down is not said to want TLS');
    await cluster.startControlPlane(address);
    await waitFor('the agent to say the control plane requires TLS', () => said.test(fs.readFileSync(agent.log, 'utf8')), 20_000, 100);
    // Said as an error once a minute, not at every retry (every half second).
    await sleep(3_000);
    const times = fs.readFileSync(agent.log, 'utf8').split('\n').filter((l) => /requires TLS/.test(l)).length;
    assert.equal(times, 1, fs.readFileSync(agent.log, 'utf8'));
    assert.ok(agent.running, 'it keeps waiting: the operator may join it after stopping it');
    await agent.stop();
  });
});
