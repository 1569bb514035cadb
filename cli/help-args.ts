/**
 * `cluster help NAME` for a NAME that is no command: commander prints the whole help as an error
 * then, which reads as if `help` itself were wrong. Run as `cluster NAME` instead, it is refused as
 * any unknown command is: `error: unknown command 'NAME'` with a suggestion, exit 1.
 */
import type { Command } from 'commander';
import { GLOBAL_OPTIONS_WITH_VALUE } from './command-index';

/** `args` (argv without node and the script) with a `help` before an unknown command name left out. */
export function unknownHelpTarget(program: Command, args: readonly string[]): string[] {
  const words = positionalIndexes(args);
  const [help, target] = words;
  if (help === undefined || target === undefined || args[help] !== 'help') return [...args];
  const name = args[target]!;
  const known = program.commands.some((cmd) => cmd.name() === name || cmd.aliases().includes(name));
  return known ? [...args] : args.filter((_, i) => i !== help);
}

/** The indexes of the words that are not options (nor a global option's value), up to a `--`. */
function positionalIndexes(args: readonly string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) out.push(i);
  }
  return out;
}
