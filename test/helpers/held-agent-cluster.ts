/**
 * A cluster whose one agent, `host-a`, reaches the control plane through a TCP proxy the test
 * can hold: what the control plane sends it (answers, slugs) then waits, as on a stalled link.
 */
import { freePort } from '../../lib/free-port';
import { tcpProxy, type TcpProxy } from './tcp-proxy';
import { TestCluster } from './test-cluster';

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
