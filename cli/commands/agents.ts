/** cluster agents: every server with its state and load. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import { printJson, withApi } from '../command-kit';
import { renderTable } from '../output/table';

export function registerAgents(program: Command): void {
  program
    .command('agents')
    .description('list every agent (server): address, datacenter, labels, state, instances, capacity')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const { agents } = await callUnary(api, 'ListAgents', {});
        if (opts.json) {
          return printJson({
            agents: agents.map((a) => ({
              id: a.id,
              address: a.address,
              datacenter: a.datacenter,
              labels: a.labels,
              state: a.state,
              instances: a.instances,
              capacity: a.capacity,
              version: a.version,
            })),
          });
        }
        if (agents.length === 0) return void console.log('No agents registered. Start one with `cluster agent start --server HOST:PORT`.');
        const labels = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || '-';
        console.log(
          renderTable(
            ['id', 'address', 'datacenter', 'labels', 'state', 'instances', 'capacity'],
            agents.map((a) => [a.id, a.address, a.datacenter, labels(a.labels), a.state, String(a.instances), String(a.capacity)]),
          ),
        );
      }),
    );
}
