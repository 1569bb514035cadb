/**
 * `cluster run -a shop ls -d /tmp`: everything from the command's first word on is the
 * command's, as with `docker run` or `ssh` (the same for `schedule:add SCHEDULE … COMMAND`). Commander reads options anywhere on the line, so
 * without this `-d` started `ls /tmp` detached and `-la` was refused as an unknown option of
 * `run`. The command's words are put after a `--` unless the line has one already.
 *
 * One exception, Heroku's habit: `cluster run rake db:migrate -a shop`. When no app was given
 * before the command, a trailing `-a APP` (`--app APP`, `--app=APP`) is run's, not the command's:
 * given to the command it would leave `run` without an app, or with `$CLUSTER_APP`'s, another one.
 */

interface CommandLine {
  /** The options the command takes before the command line it runs, and whether each takes a value. */
  options: ReadonlyMap<string, boolean>;
  /** How many positional words come before that command line (`schedule:add`'s SCHEDULE). */
  positionals: number;
}

const COMMON: [string, boolean][] = [['-a', true], ['--app', true], ['--server', true], ['-h', false], ['--help', false]];
const RUN: CommandLine = { options: new Map([...COMMON, ['-d', false], ['--detach', false], ['--no-tty', false]]), positionals: 0 };
const SCHEDULE_ADD: CommandLine = {
  options: new Map([...COMMON, ['--name', true], ['--tz', true], ['--concurrency', true], ['--timeout', true], ['--starting-deadline', true], ['--json', false]]),
  positionals: 1,
};
const TAKES_A_COMMAND: ReadonlyMap<string, CommandLine> = new Map([['run', RUN], ['run:detached', RUN], ['schedule:add', SCHEDULE_ADD]]);

const isAppOption = (arg: string) => arg === '-a' || arg === '--app' || arg.startsWith('--app=');

/** How many of the command's last words are a trailing app option (0, 1 or 2). */
function trailingAppOption(command: readonly string[]): number {
  const last = command[command.length - 1];
  if (last?.startsWith('--app=')) return 1;
  const option = command[command.length - 2];
  return command.length > 2 && (option === '-a' || option === '--app') ? 2 : 0;
}

/** `args` (without node and the script) with a `--` before the command of a `run` or `schedule:add`; other lines as they are. */
export function separateRunCommand(args: readonly string[]): string[] {
  let i = 0;
  // Up to the command word: global options (`--server X`) may come first.
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [...args];
    if (arg === '--server') i++;
    else if (!arg.startsWith('-')) break;
  }
  const line = TAKES_A_COMMAND.get(args[i] ?? '');
  if (!line) return [...args];
  let appGiven = false;
  let positionals = 0;
  for (let j = i + 1; j < args.length; j++) {
    const arg = args[j]!;
    if (arg === '--') return [...args];
    if (arg.startsWith('-') && arg !== '-') {
      appGiven ||= isAppOption(arg);
      // `--app=shop` carries its value; an option the command does not have is left for commander to refuse.
      if (line.options.get(arg) === true) j++;
      continue;
    }
    if (positionals++ < line.positionals) continue;
    const command = args.slice(j);
    const app = appGiven ? 0 : trailingAppOption(command);
    return [...args.slice(0, j), ...command.slice(command.length - app), '--', ...command.slice(0, command.length - app)];
  }
  return [...args];
}
