/**
 * A cluster whose one agent, `host-a`, reaches the control plane through a TCP proxy the test
 * can hold: what the control plane sends it (answers, slugs) then waits, as on a stalled link.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../lib/free-port';
import { WEB } from './release-apps';
import { tcpProxy, type TcpProxy } from './tcp-proxy';
import { TestCluster } from './test-cluster';
import { waitFor } from './wait-for';

export async function clusterWithHeldAgent(): Promise<{ cluster: TestCluster; proxy: TcpProxy }> {
  // A long lease: heartbeats wait while the proxy holds the control plane's answers. The control
  // plane advertises the proxy: an agent whose heartbeats go unanswered for 5 s (a hold under
  // load) switches to another address it knows, which would be past the proxy.
  const proxyPort = await freePort();
  const cluster = await TestCluster.start({ agents: [], agentTtl: 15, controlPlaneArgs: ['--advertise', `127.0.0.1:${proxyPort}`] });
  const proxy = await tcpProxy(Number(cluster.addresses[0]!.split(':')[1]), proxyPort);
  await cluster.startReadyAgent({ id: 'host-a', server: `127.0.0.1:${proxy.port}` });
  return { cluster, proxy };
}

/** Such a cluster with app `api` deployed and scaled to nothing: its runs are what host-a fetches code for. */
export interface HeldAgentApp {
  cluster: TestCluster;
  proxy: TcpProxy;
  /** Whether host-a is fetching a slug now. */
  fetching(): boolean;
  /**
   * Once host-a is idle (no fetch, no instance: no report waiting for its answer) for 500 ms in a
   * row, holds its way to the control plane and deploys new code (live at once, no release
   * command), which host-a has to fetch for the next run.
   */
  holdNewCode(): Promise<void>;
  stop(): Promise<void>;
}

export async function heldAgentApp(): Promise<HeldAgentApp> {
  const { cluster, proxy } = await clusterWithHeldAgent();
  await cluster.ok(['apps:create', 'api']);
  await cluster.deployProcfile('api', `web: ${WEB}\n`);
  // Nothing of the formation fetches new code: only the runs do.
  await cluster.scale('api', { web: 0 });
  const fetching = () => fs.readdirSync(path.join(cluster.agentDir('host-a'), 'slugs')).some((f) => f.startsWith('.fetch-'));
  return {
    cluster,
    proxy,
    fetching,
    async holdNewCode() {
      // host-a idle — no fetch going on (web.1's, scaled away), every earlier report (a run's end)
      // stored — so that nothing waits for its answer in the hold: the reporter sends one report at
      // a time, and a run's `starting` would queue behind it. ps shows a report once it is stored, a
      // moment before its answer reaches host-a: idle for 500 ms in a row, so that no answer is on
      // its way when the hold starts (a report whose answer is held keeps the next one back until
      // host-a's link gives up on its held heartbeats).
      let idleSince = 0;
      await waitFor('host-a idle', async () => {
        const idle = !fetching() && (await cluster.instances('api')).length === 0;
        if (!idle) idleSince = 0;
        else idleSince ||= Date.now();
        return idle && Date.now() - idleSince >= 500;
      }, 20_000, 50);
      proxy.hold();
      await cluster.deployProcfile('api', `web: ${WEB}\n`, { 'fresh.txt': `${Date.now()}-${Math.random()}` });
    },
    async stop() {
      proxy.release();
      await cluster.stop();
      await proxy.close();
    },
  };
}
