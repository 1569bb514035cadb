/**
 * A joined agent whose control plane is re-created (a fresh etcd makes a new CA) at the same
 * address: TLS refuses the new replica, which reads like an outage, yet no wait can help. The
 * agent asks the replica for its CA and says, as an error, that it presents another CA and how to
 * join it; it keeps running, as for any unreachable control plane.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';

describe('an agent whose control plane was re-created with another CA', { timeout: 120_000 }, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('says the control plane presents another CA, naming the join, and keeps running', async () => {
    const token = await cluster.cliJson<{ token: string; caHash: string }>(['agents:token']);
    const agent = cluster.startAgent({ id: 'joined', command: ['agent', 'join', '--token', token.token, '--ca-hash', token.caHash] });
    await cluster.waitForAgents(1);
    // Re-created: the same address, a key prefix of its own in etcd, so a CA of its own.
    await cluster.controlPlanes[0]!.kill('SIGKILL');
    await cluster.startControlPlane(cluster.server, ['--prefix', '/re-created/']);
    const fresh = await cluster.cliJson<{ caHash: string }>(['agents:token']);
    assert.notEqual(fresh.caHash, token.caHash, 'the re-created control plane has a CA of its own');
    const said = (log: string) =>
      log.split('\n').find((l) => /"level":"?(error|50)"?/.test(l) && l.includes(`presents a certificate of another CA (${fresh.caHash}) than this agent's (CA ${token.caHash})`));
    await waitFor('the agent to say the control plane presents another CA', () => said(fs.readFileSync(agent.log, 'utf8')) !== undefined, 30_000, 100);
    assert.match(said(fs.readFileSync(agent.log, 'utf8'))!, new RegExp(`cluster agent join --server ${cluster.server} --token T --ca-hash H`));
    assert.ok(agent.running, 'it keeps running, as for any unreachable control plane');
  });
});
