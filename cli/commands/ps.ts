/** cluster ps: every instance with its state, host, pid, uptime, restarts, command. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { PsReply__Output } from '../../proto/gen/cluster/api/PsReply';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { formatDuration, renderTable } from '../output/table';
import { staleJson, warnIfStale } from '../stale';

export function registerPs(program: Command): void {
  appOption(program.command('ps'))
    .description('list every instance of an app')
    .option('--json', 'print JSON')
    .action(async (opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        const ps = await callUnary(api, 'Ps', { app });
        if (opts.json) {
          printJson({
            app: ps.app,
            instances: ps.instances.map((i) => ({
              name: i.name,
              type: i.type,
              state: i.state,
              host: i.host || null,
              pid: i.pid || null,
              restarts: i.restarts,
              startedAt: i.started_at_ms ? new Date(i.started_at_ms).toISOString() : null,
              command: i.command,
              reason: i.reason,
              release: i.release || null,
              port: i.port || null,
            })),
            stale: staleJson(ps.stale),
          });
          return warnIfStale(ps.stale);
        }
        console.log(formatPs(ps));
        warnIfStale(ps.stale);
      }),
    );
}

function formatPs(ps: PsReply__Output): string {
  if (ps.instances.length === 0) return `${ps.app} runs nothing. Scale it up with \`cluster scale TYPE=N -a ${ps.app}\`.`;
  const now = Date.now();
  const rows = ps.instances.map((i) => [
    i.name,
    i.state,
    i.host || '-',
    i.pid ? String(i.pid) : '-',
    i.state === 'up' && i.started_at_ms ? formatDuration(now - i.started_at_ms) : '-',
    String(i.restarts),
    i.state === 'up' ? i.command : `${i.command ? `${i.command}  ` : ''}(${i.reason})`,
  ]);
  return renderTable(['instance', 'state', 'host', 'pid', 'uptime', 'restarts', 'command'], rows);
}

/** The `ps` table of an app, as text. */
export async function psTable(api: ClusterApiClient, app: string): Promise<string> {
  return formatPs(await callUnary(api, 'Ps', { app }));
}
