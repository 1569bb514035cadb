/**
 * `cluster run -a shop ls -d /tmp`: everything from the command's first word on is the
 * command's, as with `docker run` or `ssh`. Commander reads options anywhere on the line, so
 * without this `-d` started `ls /tmp` detached and `-la` was refused as an unknown option of
 * `run`. The command's words are put after a `--` unless the line has one already.
 */

/** The options `run` and `run:detached` take before the command, and whether each takes a value. */
const RUN_OPTIONS: ReadonlyMap<string, boolean> = new Map([
  ['-a', true], ['--app', true], ['--server', true],
  ['-d', false], ['--detach', false], ['--no-tty', false], ['-h', false], ['--help', false],
]);

const RUN_COMMANDS: ReadonlySet<string> = new Set(['run', 'run:detached']);

/** `args` (without node and the script) with a `--` before the command of a `run`; other lines as they are. */
export function separateRunCommand(args: readonly string[]): string[] {
  let i = 0;
  // Up to the command word: global options (`--server X`) may come first.
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [...args];
    if (arg === '--server') i++;
    else if (!arg.startsWith('-')) break;
  }
  if (i >= args.length || !RUN_COMMANDS.has(args[i]!)) return [...args];
  for (let j = i + 1; j < args.length; j++) {
    const arg = args[j]!;
    if (arg === '--') return [...args];
    if (arg.startsWith('-') && arg !== '-') {
      // `--app=shop` carries its value; an option `run` does not have is left for commander to refuse.
      if (RUN_OPTIONS.get(arg) === true) j++;
      continue;
    }
    return [...args.slice(0, j), '--', ...args.slice(j)];
  }
  return [...args];
}
