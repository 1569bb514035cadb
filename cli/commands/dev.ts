/** cluster dev: a whole cluster on this machine, with the example app, until Ctrl-C. */
import * as path from 'node:path';
import type { Command } from 'commander';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { callUnary } from '../../lib/grpc-call';
import { clusterHome, readDevState } from '../../lib/cluster-home';
import { connect } from '../client';
import { fail } from '../command-kit';
import { DevCluster } from '../dev/dev-cluster';
import { devAgentNumber, forgetEarlierAgents } from '../dev/earlier-agents';
import { describeFailure, UserError } from '../errors';
import { positiveInt } from '../parse';
import { PACKAGE_ROOT } from '../version';
import { deployDirectory } from './deploy';
import { waitForFormation } from '../wait-formation';
import { streamLogs } from './logs';
import { psTable } from './ps';
import { useColor } from '../output/color';

const EXAMPLE = { app: 'shop', dir: path.join(PACKAGE_ROOT, 'examples', 'shop'), formation: { web: 2, worker: 4, clock: 1 } };

async function waitForAgents(api: ClusterApiClient, count: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { agents } = await callUnary(api, 'ListAgents', {}, 2_000).catch(() => ({ agents: [] as Array<{ id: string; state: string }> }));
    // Its own agents, registered: those of an earlier run are listed too (see forgetEarlierAgents).
    const registered = agents.filter((a) => (devAgentNumber(a.id) ?? Infinity) <= count && (a.state === 'ready' || a.state === 'draining')).length;
    if (registered >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${registered} of ${count} agents registered within 30 s; see the daemon logs`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function setUpExample(api: ClusterApiClient): Promise<void> {
  const { app, dir, formation } = EXAMPLE;
  const existing = (await callUnary(api, 'ListApps', {})).apps.find((a) => a.name === app);
  if (!existing) await callUnary(api, 'CreateApp', { name: app });
  const firstDeploy = !existing?.release;
  if (firstDeploy) {
    const release = await deployDirectory(api, app, dir, { quiet: true, message: 'Example app' });
    console.log(`Deployed examples/shop as ${app} v${release.version}.`);
  }
  const ps = await callUnary(api, 'Ps', { app, states_only: true });
  // Just deployed (which scaled web=1, as a first deploy does) or never scaled: the example's formation.
  if (firstDeploy || ps.formation.every((f) => f.count === 0)) {
    const changes = Object.entries(formation).map(([type, count]) => ({ type, count }));
    await callUnary(api, 'Scale', { app, changes });
    console.log(`Scaled ${app} to ${changes.map((c) => `${c.type}=${c.count}`).join(' ')}.`);
  }
  await waitForFormation(api, app, Object.keys(formation), 60_000);
}

export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run a whole cluster on this machine (etcd, a control plane, N agents) until Ctrl-C')
    .option('--agents <n>', 'how many agents', '3')
    .option('--data-dir <dir>', 'where everything keeps its data', path.join(clusterHome(), 'dev'))
    .option('--no-example', 'do not deploy the example app')
    .option('--no-logs', "do not follow the example app's logs here")
    .action(async (opts: { agents: string; dataDir: string; example: boolean; logs: boolean }) => {
      let cluster: DevCluster | undefined;
      let api: ClusterApiClient | undefined;
      try {
        const running = readDevState();
        if (running) throw new UserError(`a dev cluster is already running (pid ${running.pid}, ${running.server}); stop it with Ctrl-C first`);
        const agents = positiveInt(opts.agents, '--agents');
        if (agents > 200) throw new UserError(`--agents ${agents}: at most 200 on one machine`);
        cluster = new DevCluster({ dataDir: path.resolve(opts.dataDir), agents, say: (line) => console.log(line) });
        const stop = () => {
          console.log('\nStopping the dev cluster (instances get SIGTERM)…');
          cluster!.stop().then(
            () => process.exit(0),
            (err: unknown) => {
              // Said, not thrown: the process must exit either way (its daemons had their SIGTERM).
              fail(err, cluster?.server);
              process.exit(process.exitCode ?? 1);
            },
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await cluster.start();
        api = connect(cluster.server);
        await waitForAgents(api, agents);
        console.log(`${agents} agent${agents === 1 ? '' : 's'} registered.`);
        forgetEarlierAgents(api, agents, (line) => console.log(line)).catch(() => undefined); // best effort, while the rest goes on
        if (opts.example) await setUpExample(api);
        if (opts.example) console.log(`\n${await psTable(api, EXAMPLE.app)}`);
        console.log('\nThe dev cluster is up. In another terminal (no flags needed):');
        if (opts.example) console.log(`  cluster ps -a ${EXAMPLE.app}    cluster agents    cluster scale worker=10 -a ${EXAMPLE.app} --wait    cluster logs -a ${EXAMPLE.app} --tail`);
        else console.log('  cluster apps:create APP    cluster deploy DIR -a APP    cluster ps -a APP    cluster agents');
        console.log(`  cluster dashboard     (the web dashboard: http://${cluster.dashboard}/)`);
        console.log('Press Ctrl-C to stop everything.');
        if (opts.example && opts.logs) {
          console.log(`\nLogs of ${EXAMPLE.app} from every agent (--no-logs to keep quiet):`);
          // The dev cluster starts a control plane that dies again (dev-cluster.ts): the follow
          // waits for it and goes on from where it was, instead of ending the whole dev cluster.
          // One that ends (the example app destroyed) is said; the cluster goes on without it.
          const server = cluster.server;
          await streamLogs(api, { app: EXAMPLE.app, lines: 20, follow: true }, { json: false, color: useColor(true) }, { server, moveOn: () => server }, { patient: true }).catch(
            (err: unknown) => console.log(`The log view stopped: ${describeFailure(err, server).message}. The cluster goes on.`),
          );
        }
        await new Promise<never>(() => undefined); // until a signal stops the cluster
      } catch (err) {
        fail(err, cluster?.server);
        await cluster?.stop();
      } finally {
        api?.close();
      }
    });
}
