/** cluster agents, agents:drain, agents:activate, agents:web, agents:remove: every server with its state and load. */
import type { Command } from 'commander';
import type { AgentInfo__Output } from '../../proto/gen/cluster/api/AgentInfo';
import type { Staleness__Output } from '../../proto/gen/cluster/api/Staleness';
import { staleJson, warnIfStale } from '../stale';
import type { ClusterApiClient } from '../../proto/gen/cluster/api/ClusterApi';
import { CANNOT_MOVE_OFF_DRAINED } from '../../lib/drain';
import { callUnary } from '../../lib/grpc-call';
import { argumentOffering, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { timeoutMs } from '../parse';
import { agentIdProblem, parseInstanceName } from '../../lib/names';
import { nameOneOffs, oneOffsOn } from '../drain-one-offs';
import { formatDuration, renderTable } from '../output/table';
import { waitForFormation } from '../wait-formation';
import { WaitReads } from '../wait-reads';
import { formatDuration as formatSpan } from '../../lib/cron/duration';
import { instancesOn } from '../instances-on';

const POLL_MS = 250;
/** Without progress for this long, --wait looks for instances that cannot move at all. */
const STUCK_CHECK_MS = 3_000;

/** Heartbeat age as `0s ago`; `-` when unknown (no heartbeat through this replica yet, or down). */
/** A live agent this replica has not heard lately heartbeats to another one (control-plane/api/agents.ts). */
function heartbeat(ms: number, state: string): string {
  if (ms >= 0) return `${formatDuration(ms)} ago`;
  return state === 'ready' || state === 'draining' ? 'another replica' : '-';
}

/**
 * How to add the first agent: with TLS (the CLI connected with a credential) an agent needs a
 * certificate first, so `agent start` alone could never register.
 */
function noAgentsHint(tls: boolean): string {
  if (!tls) return 'No agents registered. Start one with `cluster agent start --server HOST:PORT`.';
  return 'No agents registered. The control plane runs with TLS: make a join token with `cluster agents:token`, then on the server run `cluster agent join --server HOST:PORT --token T --ca-hash H` with what it printed.';
}

/** The `agents` listing, as a table or JSON (with `stale` set when it is an old view). */
function printAgents(agents: AgentInfo__Output[], json: boolean | undefined, stale: Staleness__Output | null, tls: boolean): void {
  if (json) {
    return printJson({
      agents: agents.map((a) => ({
        id: a.id,
        address: a.address,
        datacenter: a.datacenter,
        labels: a.labels,
        state: a.state,
        instances: a.instances,
        oneOffs: a.one_offs,
        capacity: a.capacity,
        version: a.version,
        heartbeatAgeMs: a.heartbeat_age_ms < 0 ? null : Math.round(a.heartbeat_age_ms),
        web: a.web,
        drained: a.drained,
      })),
      stale: staleJson(stale),
    });
  }
  if (agents.length === 0) return void console.log(noAgentsHint(tls));
  const labels = (l: Record<string, string>) => Object.entries(l).map(([k, v]) => `${k}=${v}`).join(',') || '-';
  console.log(
    renderTable(
      ['id', 'address', 'datacenter', 'labels', 'state', 'instances', 'one-offs', 'capacity', 'version', 'heartbeat', 'web'],
      agents.map((a) => [
        a.id,
        a.address,
        a.datacenter,
        labels(a.labels),
        // An old view cannot vouch for a state: say what it was, and that it is old.
        `${a.state}${stale && stale.stale_ms > 0 ? '?' : ''}${a.drained && a.state !== 'draining' ? ' (drained)' : ''}`,
        String(a.instances),
        String(a.one_offs),
        String(a.capacity),
        a.version || '-',
        heartbeat(a.heartbeat_age_ms, a.state),
        a.web ? 'on' : 'off',
      ]),
    ),
  );
  const down = agents.filter((a) => a.state === 'down').map((a) => a.id);
  if (down.length > 0 && !(stale && stale.stale_ms > 0)) {
    const which = down.length === 1 ? `${down[0]} is down` : `${down.join(', ')} are down`;
    // A note, not a row: on stderr, so that stdout is the table alone (`cluster agents | awk …`).
    process.stderr.write(`${which}: once a server is gone for good, forget it with \`cluster agents:remove ID\`.\n`);
  }
}

export function registerAgents(program: Command): void {
  program
    .command('agents')
    .description('list every agent (server): address, datacenter, labels, state (ready, draining, restarting, unreachable, down: gone, listed until agents:remove; `(drained)` beside any but draining when it is drained), instances, one-off processes, capacity, version, last heartbeat, whether it runs web')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) =>
      withApi(cmd, async (api, _server, connection) => {
        const { agents, stale } = await callUnary(api, 'ListAgents', {});
        // After the listing: the last thing read says that it may be old (and exit 2).
        try {
          printAgents(agents, opts.json, stale, connection.tls);
        } finally {
          warnIfStale(stale);
        }
      }),
    );

  program
    .command('agents:drain <id>')
    .description('move every instance off an agent (each new one up before the old one stops) and place nothing new there')
    .option('--wait', 'show progress until the agent runs no instances and no one-off processes (those are not moved: they end on their own)')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .action(async (id: string, opts: { wait?: boolean; timeout: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const timeout = timeoutMs(opts.timeout);
        const agent = await callUnary(api, 'DrainAgent', { id });
        // The drain is made: a replica restarting now is waited out (cli/wait-reads.ts), not
        // reported as if the drain had failed.
        const reads = new WaitReads('cluster agents', (line) => process.stderr.write(`${line}\n`));
        const { agents } = await reads.read(() => callUnary(api, 'ListAgents', {}), Date.now() + timeout);
        console.log(drainSummary(id, agent, agents.some((a) => a.id !== id && a.state === 'ready')));
        if (opts.wait) await waitUntilEmpty(api, id, timeout);
      }),
    );

  program
    .command('agents:activate <id>')
    .description('undo agents:drain: the agent receives new instances again (nothing moves back by itself)')
    .action(async (id: string, _opts: unknown, cmd: Command) =>
      withApi(cmd, async (api) => {
        const agent = await callUnary(api, 'ActivateAgent', { id });
        // Absent from an older control plane: it was taken as drained.
        if (agent.was_drained === false) {
          return void console.log(agent.state === 'ready' ? `${id} was not drained: it is active already. Nothing changed.` : `${id} was not drained: nothing changed (it is ${agent.state}).`);
        }
        if (agent.state !== 'ready') return void console.log(`${id} is no longer drained; it is ${agent.state}, and receives instances once it registers again.`);
        console.log(`${id} is active again: new instances may be placed on it. Nothing moves back by itself.`);
      }),
    );

  program
    .command('agents:remove <id>')
    .description('forget an agent whose server is gone for good: it is `down` (not registered, owning no instance) and is no longer listed; if it starts again, it registers anew')
    .action(async (id: string, _opts: unknown, cmd: Command) =>
      withApi(cmd, async (api) => {
        const problem = agentIdProblem(id);
        if (problem) throw new UserError(problem);
        const agent = await callUnary(api, 'RemoveAgent', { id });
        const where = agent.address ? ` (${agent.address}${agent.datacenter ? `, ${agent.datacenter}` : ''})` : '';
        console.log(`Removed ${id}${where}: it is no longer listed. If its agent starts again, it registers anew.`);
      }),
    );

  registerAgentWeb(program);
}

/**
 * What a drain does now. With no other agent ready its instances have nowhere to go: they keep
 * running where they are (leader/moves.ts never stops one without a replacement) until one is.
 * Nor do those that no other ready agent may take (a placement rule, web off everywhere else).
 */
export function drainSummary(id: string, agent: Pick<AgentInfo__Output, 'instances' | 'was_drained' | 'cannot_move' | 'cannot_move_example' | 'cannot_move_reason'>, otherReady: boolean): string {
  const undo = `Undo with \`cluster agents:activate ${id}\`.`;
  const { instances } = agent;
  const draining = agent.was_drained === true ? `${id} was draining already` : `Draining ${id}`;
  if (instances === 0) return `${draining}: it runs no instances, and nothing new is placed there. ${undo}`;
  if (!otherReady) {
    return `${draining}: no other agent is ready, so its ${instances} instance(s) have nowhere to go and keep running there; ` +
      `they move once another agent is ready (each new one up before the old one stops). Nothing new is placed on ${id}, one-offs included. ${undo}`;
  }
  const stuck = Math.min(agent.cannot_move ?? 0, instances);
  const why = `${agent.cannot_move_reason} (e.g. ${agent.cannot_move_example})`;
  const room = 'until an agent that may take them is ready (`cluster agents:web ID on`, `cluster ps:place`)';
  if (stuck === instances) {
    return `${draining}: none of its ${instances} instance(s) can move: ${why}; they keep running there ${room}. ` +
      `Nothing new is placed on ${id}. ${undo}`;
  }
  if (stuck === 0) {
    return `${draining}: its ${instances} instance(s) move to other agents, each new one up before the old one stops; nothing new is placed there. ${undo}`;
  }
  return `${draining}: ${instances - stuck} of its ${instances} instance(s) move to other agents, each new one up before the old one stops; ` +
    `${stuck} cannot move: ${why}; they keep running there ${room}. Nothing new is placed on ${id}. ${undo}`;
}

/** `on` or `off` as a boolean; anything else is the user's mistake. */
export function parseOnOff(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new UserError(`\`${value}\` is not on or off: \`cluster agents:web ID on\` lets an agent run web, \`off\` moves its web instances away`);
}

/** `cluster agents:web ID on|off` (process servers, docs/process-servers.md). */
function registerAgentWeb(program: Command): void {
  program
    .command('agents:web')
    .argument('<id>', 'the agent')
    .addArgument(argumentOffering('<on|off>', 'on: it may run web; off: its web instances move away', ['on', 'off']))
    .description('whether an agent runs `web` (agents started with --process-server begin with off); off moves its web instances to other agents, each new one up before the old one stops')
    .option('--force', 'off even when no other ready agent runs web (its web instances then wait pending)')
    .option('--wait', 'with off: show progress until every web instance it ran is up on another agent, or fail with the reason')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .action(async (id: string, value: string, opts: { force?: boolean; wait?: boolean; timeout: string }, cmd: Command) =>
      withApi(cmd, async (api) => {
        const problem = agentIdProblem(id);
        if (problem) throw new UserError(problem);
        const web = parseOnOff(value);
        const timeout = timeoutMs(opts.timeout);
        if (web && opts.wait) throw new UserError('--wait goes with off: nothing moves to an agent that is given web back');
        const startedAt = Date.now();
        const { agents } = await callUnary(api, 'ListAgents', {});
        const listed = agents.find((a) => a.id === id);
        const elsewhere = agents.some((a) => a.id !== id && a.web && a.state === 'ready');
        // Refused before anything is written: --wait would wait until another agent runs web.
        if (!web && opts.wait && !elsewhere && listed?.web === true && listed.state !== 'down') {
          throw new UserError(`no other ready agent runs web: ${id}'s web instances would wait \`pending\` until one does (\`cluster agents:web ID on\`), so --wait would wait for that`);
        }
        // Looked for before the write: an app whose web has moved by the first look is not missed.
        const moving = !web && opts.wait ? await appsWithWebOn(api, id) : [];
        // Already so: said plainly, nothing written (it used to say its web instances would move).
        if (listed?.web === web) {
          console.log(`${id} ${web ? 'runs web' : 'runs no web'} already: nothing changed.`);
          // Run again to see the move through: what is still there is waited for.
          if (opts.wait) await waitUntilMoved(api, id, moving, timeout, startedAt);
          return;
        }
        const agent = await callUnary(api, 'SetAgentWeb', { id, web, force: opts.force === true });
        if (web) return void console.log(`${id} runs web now: web instances may be placed on it. Nothing moves there by itself.`);
        if (agent.state !== 'down' && !elsewhere) {
          // Forced: nothing moves, and saying so once is enough.
          console.log(`${id} runs no web now.`);
          process.stderr.write(`warning: no other ready agent runs web: web instances wait \`pending\` until one does (\`cluster agents:web ID on\`)\n`);
        } else {
          console.log(`${id} runs no web now: its web instances move to other agents, each new one up before the old one stops.`);
        }
        if (opts.wait) await waitUntilMoved(api, id, moving, timeout, startedAt);
      }),
    );
}

/** The apps with a web instance on agent `id`. */
async function appsWithWebOn(api: ClusterApiClient, id: string): Promise<string[]> {
  const web = await instancesOn(api, id, (i) => (i.type || parseInstanceName(i.name)?.type) === 'web');
  return [...new Set(web.map((w) => w.app))];
}

/**
 * `agents:web ID off --wait`: for each app that had web instances on `id`, waits until its web
 * instances are all up on agents that run web and fit its placement rule for web, as `ps:place
 * --wait` does (each old copy stops once its new one is up); one timeout for all, from `startedAt`.
 */
async function waitUntilMoved(api: ClusterApiClient, id: string, apps: string[], limitMs: number, startedAt: number): Promise<void> {
  if (apps.length === 0) return void process.stderr.write(`${id} runs no web instance.\n`);
  for (const app of apps) {
    // A replica restarting under the wait is waited out, as in waitForFormation's own reads.
    const reads = new WaitReads(`cluster ps -a ${app}`, (line) => process.stderr.write(`${line}\n`));
    const { rules } = await reads.read(() => callUnary(api, 'GetPlacement', { app }), startedAt + limitMs);
    const rule = rules.find((r) => r.type === 'web');
    process.stderr.write(`${app}: web instances moving off ${id}…\n`);
    const placement = { type: 'web', labels: rule?.labels ?? {}, datacenter: rule?.datacenter ?? '' };
    await waitForFormation(api, app, ['web'], limitMs, { placement }, startedAt);
  }
}

/** Follows `agents` until agent `id` runs no instances, then until its one-offs have ended. */
async function waitUntilEmpty(api: ClusterApiClient, id: string, limitMs: number): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  let last = '';
  let left = -1;
  let progressAt = started;
  const show = (line: string) => {
    if (line !== last) process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    last = line;
  };
  // The drain was made before the first read: a replica restarting under the wait is waited out
  // (cli/wait-reads.ts), never reported as a failure that invites running the command again.
  const reads = new WaitReads('cluster agents', show);
  const deadline = started + limitMs;
  try {
    for (;;) {
      const { agents } = await reads.read(() => callUnary(api, 'ListAgents', {}), deadline);
      const agent = agents.find((a) => a.id === id);
      if (!agent) throw new UserError(`agent \`${id}\` is gone (see \`cluster agents\`)`);
      if (agent.state === 'ready') throw new UserError(`${id} was activated again while we waited`);
      // One-offs are not moved: once the instances are gone, wait for them to end (stopping the agent would stop them).
      const oneOffs = agent.instances === 0 ? await reads.read(() => oneOffsOn(api, id), deadline) : [];
      const running = oneOffs.length > 0 ? `, ${oneOffs.length} one-off process(es) still running (${nameOneOffs(oneOffs)})` : '';
      show(`${id}: ${agent.instances} instance(s) left${running}`);
      if (agent.instances === 0 && oneOffs.length === 0) break;
      if (agent.instances !== left) {
        left = agent.instances;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > STUCK_CHECK_MS) {
        await failIfCannotMove(api, id, reads, deadline);
        progressAt = Date.now();
      }
      const first = oneOffs[0];
      if (Date.now() - started > limitMs && agent.instances === 0 && first) {
        throw new UserError(
          `${id} still runs ${oneOffs.length} one-off process(es) after ${formatSpan(limitMs)} (${nameOneOffs(oneOffs)}): ` +
            `they are not moved; wait for them to end, or stop one (\`cluster ps:stop ${first.instance} -a ${first.app}\`)`,
        );
      }
      if (Date.now() - started > limitMs) {
        throw new UserError(
          `${id} still runs ${agent.instances} instance(s) after ${formatSpan(limitMs)}: they wait for room elsewhere ` +
            'or for their new copies to come up; `cluster ps -a APP` shows why',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    if (tty && last) process.stderr.write('\n');
  }
  process.stderr.write(`${id} is drained (${((Date.now() - started) / 1000).toFixed(1)} s): it runs nothing and receives nothing.\n`);
}

/** Fails --wait when instances on the drained agent fit on no other agent (they stay where they are). */
async function failIfCannotMove(api: ClusterApiClient, id: string, reads: WaitReads, deadline: number): Promise<void> {
  const found = await reads.read(() => instancesOn(api, id, (i) => i.reason.startsWith(CANNOT_MOVE_OFF_DRAINED)), deadline);
  const stuck = found.map(({ app, instance }) => `${app}/${instance.name}`);
  const first = found[0]?.instance.reason ?? '';
  const reason = first.slice(first.indexOf(': ') + 2);
  if (stuck.length === 0) return;
  throw new UserError(
    `${stuck.length} instance(s) cannot move off ${id}: ${reason} (e.g. ${stuck[0]}); they keep running there until there is room ` +
      'elsewhere (another agent, a scale-down, a changed placement rule)',
  );
}
