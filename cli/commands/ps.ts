/** cluster ps [TYPE…]: every instance (or those of some types) with its state, host, pid, uptime, restarts, CPU, memory, command. */
import type { Command } from 'commander';
import { callUnary } from '../../lib/grpc-call';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import type { PsReply__Output } from '../../proto/gen/cluster/api/PsReply';
import { isProcessType, parseInstanceName, PROCESS_TYPE_RULE } from '../../lib/names';
import { isOneOffType } from '../../lib/one-off';
import { processTypeNames } from '../../lib/release-phase';
import { CANNOT_MOVE_OFF_DRAINED } from '../../lib/drain';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { formatDuration, renderTable } from '../output/table';
import { formatBytes, formatPercent } from '../output/units';
import { staleJson, warnIfStale } from '../stale';
import { noReleaseYet } from '../../lib/no-release-yet';
import { heldBackBy, newestWithCode, releaseLogsCommand } from '../release-held-back';

export function registerPs(program: Command): void {
  appOption(program.command('ps [types...]'))
    .description('list every instance of an app, or only those of some process types (ps web worker)')
    .option('--json', 'print JSON')
    .action(async (types: string[], opts: { app?: string; json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        for (const type of types) {
          if (!isProcessType(type)) throw new UserError(`\`${type}\` is not a process type: use ${PROCESS_TYPE_RULE} (e.g. \`cluster ps worker\`)`);
        }
        const reply = await callUnary(api, 'Ps', { app });
        const notLive = await whyNoReleaseRuns(api, reply);
        const ps = onlyTypes(reply, types, notLive);
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
              // As the agent last sampled the process group (docs/metrics.md); null: unknown.
              cpuPercent: i.cpu_percent ?? null,
              cpuSeconds: i.cpu_seconds ?? null,
              rssBytes: i.rss_bytes ?? null,
            })),
            stale: staleJson(ps.stale),
          });
          return warnIfStale(ps.stale);
        }
        if (types.length > 0 && ps.instances.length === 0) console.log(notLive ?? `No ${types.join(' or ')} instances of ${ps.app}.`);
        else console.log(formatPs(ps, notLive));
        warnIfStale(ps.stale);
      }),
    );
}

/**
 * Why no release runs when none does (`ps` knows no process types): never deployed (undefined:
 * said by noReleaseYet), or the release phase of the newest release holds it back.
 */
async function whyNoReleaseRuns(api: ClusterApiClient, ps: PsReply__Output): Promise<string | undefined> {
  if (ps.process_types.length > 0 || ps.stale) return undefined;
  const newest = await newestWithCode(api, ps.app);
  if (!newest) return undefined;
  const why = `${ps.app} runs no release yet: ${heldBackBy(newest)}`;
  if (newest.phase === 'failed') return `${why} (its output: \`${releaseLogsCommand(ps.app, newest)}\`); deploy again (or set config) to try again.`;
  if (newest.phase === 'running') return `${why} (its output: \`${releaseLogsCommand(ps.app, newest)}\`); its instances start once it succeeds.`;
  return `${why} (see \`cluster releases -a ${ps.app}\`).`;
}

/**
 * The instances of `types` (all when empty); a type the current release lacks is refused,
 * except the one-offs' `run` and `release`. Nothing is refused while a release phase holds
 * the app's only code back (`notLive` says why): no release runs to refuse a type against.
 */
function onlyTypes(ps: PsReply__Output, types: string[], notLive?: string): PsReply__Output {
  if (types.length === 0) return ps;
  const unknown = types.filter((t) => !isOneOffType(t) && !ps.process_types.includes(t) && !ps.instances.some((i) => i.type === t));
  if (unknown.length > 0 && !ps.stale && !notLive) {
    if (ps.process_types.length === 0) throw new UserError(`\`${unknown[0]}\` is not a process type of ${ps.app}: ${noReleaseYet(ps.app)}`);
    const known = processTypeNames(ps.process_types).join(', ') || 'none';
    throw new UserError(`\`${unknown[0]}\` is not a process type of ${ps.app} (it has: ${known})`);
  }
  const wanted = new Set(types);
  return { ...ps, instances: ps.instances.filter((i) => wanted.has(i.type || (parseInstanceName(i.name)?.type ?? ''))) };
}

function formatPs(ps: PsReply__Output, notLive?: string): string {
  if (ps.instances.length === 0) {
    // No process types: no release with code runs (none was deployed, or the first one's release command failed).
    if (ps.process_types.length === 0) return notLive ?? `${noReleaseYet(ps.app)}.`;
    return `${ps.app} runs nothing. Scale it up with \`cluster scale TYPE=N -a ${ps.app}\`.`;
  }
  const now = Date.now();
  const rows = ps.instances.map((i) => [
    i.name,
    i.state,
    i.host || '-',
    i.pid ? String(i.pid) : '-',
    i.state === 'up' && i.started_at_ms ? formatDuration(now - i.started_at_ms) : '-',
    String(i.restarts),
    i.cpu_percent !== undefined ? formatPercent(i.cpu_percent) : '-',
    i.rss_bytes !== undefined ? formatBytes(i.rss_bytes) : '-',
    shownReason(i) ? `${i.command ? `${i.command}  ` : ''}(${i.reason})` : i.command,
  ]);
  return renderTable(['instance', 'state', 'host', 'pid', 'uptime', 'restarts', 'cpu', 'mem', 'command'], rows);
}

/**
 * Why an instance is in its state, shown after its command: always unless it is up, and for an
 * up one that a drain cannot move (it keeps running where the operator asked it to leave).
 */
function shownReason(i: PsReply__Output['instances'][number]): boolean {
  if (!i.reason) return false;
  return i.state !== 'up' || i.reason.startsWith(CANNOT_MOVE_OFF_DRAINED);
}

/** The `ps` table of an app, as text. */
export async function psTable(api: ClusterApiClient, app: string): Promise<string> {
  const ps = await callUnary(api, 'Ps', { app });
  return formatPs(ps, await whyNoReleaseRuns(api, ps));
}
