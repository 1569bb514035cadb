/** cluster ps:place [TYPE [key=value …] [--datacenter DC] [--wait]]: where each process type may run. */
import type { Command } from 'commander';
import type { PlacementRule__Output } from '../../proto/gen/cluster/api/PlacementRule';
import { callUnary } from '../../lib/grpc-call';
import { resolveApp } from '../client';
import { appOption, printJson, withApi } from '../command-kit';
import { UserError } from '../errors';
import { timeoutMs } from '../parse';
import { renderTable } from '../output/table';
import { waitForFormation } from '../wait-formation';

interface PlaceOptions {
  app?: string;
  datacenter?: string;
  force?: boolean;
  wait?: boolean;
  timeout: string;
  json?: boolean;
}

/** `role=web` → ['role', 'web']; anything else is a mistake worth one clear sentence. */
function parseLabel(arg: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq <= 0 || eq === arg.length - 1) throw new UserError(`${arg}: expected a label as key=value, e.g. role=web`);
  return [arg.slice(0, eq), arg.slice(eq + 1)];
}

/** The labels of a rule; a key given twice with two values is refused, as `--label` is (cli/parse.ts). */
export function labelMap(args: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of args.map(parseLabel)) {
    if (Object.hasOwn(labels, key) && labels[key] !== value) throw new UserError(`label \`${key}\` given twice (${labels[key]}, then ${value}): give each key once`);
    labels[key] = value;
  }
  return labels;
}

/** `role=web,tier=front`. */
function labelList(labels: Record<string, string>): string {
  return Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
}

function toJson(rules: PlacementRule__Output[]) {
  return { rules: rules.map((r) => ({ type: r.type, labels: r.labels, datacenter: r.datacenter || null })) };
}

export function registerPlacement(program: Command): void {
  appOption(program.command('ps:place [type] [labels...]'))
    .description(
      'where a process type may run: only on agents with every given label (key=value, as set by `agent start --label`) ' +
        'and in --datacenter; no labels and no --datacenter lets it run anywhere again. Without TYPE: list the rules',
    )
    .option('--datacenter <dc>', 'only agents in this datacenter')
    .option('--force', 'set the rule even though no ready agent fits it (its running instances stop and wait as pending)')
    .option('--wait', 'show progress until every instance of TYPE is up on an agent the rule allows (old copies elsewhere stop once their new copy is up), or fail with the reason')
    .option('--timeout <duration>', 'with --wait: give up after this long (seconds, or 30s, 5m, 1h)', '600')
    .option('--json', 'print JSON')
    .action(async (type: string | undefined, labels: string[], opts: PlaceOptions, cmd: Command) =>
      withApi(cmd, async (api) => {
        const app = resolveApp(opts.app);
        if (type === undefined) {
          if (opts.datacenter) throw new UserError('--datacenter needs a process type: cluster ps:place TYPE --datacenter DC');
          if (opts.wait) throw new UserError('--wait needs a process type: cluster ps:place TYPE [key=value …] --wait');
          const { rules } = await callUnary(api, 'GetPlacement', { app });
          if (opts.json) return printJson(toJson(rules));
          if (rules.length === 0) return void console.log(`No placement rules: every process type of ${app} may run on any agent.`);
          const table = renderTable(
            ['type', 'labels', 'datacenter'],
            rules.map((r) => [r.type, labelList(r.labels) || '-', r.datacenter || '-']),
          );
          console.log(table);
          // A note, not a row: on stderr, so that stdout is the table alone.
          return void process.stderr.write('Other types may run on any agent.\n');
        }
        if (type.includes('=')) throw new UserError(`${type}: give the process type first, e.g. cluster ps:place web ${type} -a ${app}`);
        const timeout = timeoutMs(opts.timeout);
        const rule = { type, labels: labelMap(labels), datacenter: opts.datacenter ?? '' };
        const { rules } = await callUnary(api, 'SetPlacement', { app, rules: [rule], force: opts.force === true });
        const set = rules.find((r) => r.type === type);
        if (opts.json) printJson(toJson(rules));
        else if (!set) console.log(`${type} of ${app} may run on any agent again. Nothing moves back by itself.`);
        else {
          const where = `${labelList(set.labels) ? ` with ${labelList(set.labels)}` : ''}${set.datacenter ? ` in datacenter ${set.datacenter}` : ''}`;
          console.log(
            `${type} of ${app} now runs only on agents${where}. ` +
              'Instances elsewhere move (each new one is up before the old one stops); those that fit nowhere stay pending (see `cluster ps`).',
          );
        }
        if (opts.wait) await waitForFormation(api, app, [type], timeout, { placement: { type, labels: set?.labels ?? {}, datacenter: set?.datacenter ?? '' } });
      }),
    );
}
