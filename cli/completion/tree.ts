/**
 * The command tree shell completion is generated from: read from the commander program itself,
 * so every command, alias and option added later completes without touching the scripts.
 */
import type { Command } from 'commander';

/** What completes after a command's options: its subcommands, or values for its first argument. */
export interface CompletionCommand {
  /** The words that lead here from `cluster` (`['agent', 'join']`); empty for the program. */
  path: string[];
  /** The name and aliases by which its parent reaches it. */
  names: string[];
  description: string;
  options: CompletionOption[];
  subcommands: CompletionCommand[];
  /** How each of its positional arguments completes, in order: fixed words, directories, or nothing. */
  args: ArgumentCompletion[];
}

export type ArgumentCompletion = { words: string[] } | 'directories' | 'none';

export interface CompletionOption {
  /** `-a` and `--app`, or only one of them. */
  flags: string[];
  takesValue: boolean;
  /** Words the value must be one of (commander's `.choices()`). */
  choices: string[];
  description: string;
}

const HELP: CompletionOption = { flags: ['-h', '--help'], takesValue: false, choices: [], description: 'display help for command' };

/** The tree under `program`; options of the program (`--server`) are offered everywhere. */
export function completionTree(program: Command): CompletionCommand {
  const globals = program.options.filter((option) => !option.hidden).map(toOption);
  const walk = (cmd: Command, path: string[]): CompletionCommand => {
    const own = cmd.options.filter((option) => !option.hidden).map(toOption);
    const options = path.length === 0 ? [...own, HELP] : [...own, ...globals.filter((g) => !/^(-V|--version)$/.test(g.flags[0]!)), HELP];
    const visible = cmd.commands.filter((sub) => !(sub as unknown as { _hidden?: boolean })._hidden);
    return {
      path,
      names: [cmd.name(), ...cmd.aliases()],
      description: firstSentence(cmd.description()),
      options,
      subcommands: visible.map((sub) => walk(sub, [...path, sub.name()])),
      args: cmd.registeredArguments.map(argumentOf),
    };
  };
  return walk(program, []);
}

/** Every command of the tree, the program first. */
export function flatten(root: CompletionCommand): CompletionCommand[] {
  return [root, ...root.subcommands.flatMap(flatten)];
}

function toOption(option: Command['options'][number]): CompletionOption {
  return {
    flags: [option.short, option.long].filter((flag): flag is string => typeof flag === 'string'),
    takesValue: option.required || option.optional,
    choices: option.argChoices ?? [],
    description: firstSentence(option.description),
  };
}

function argumentOf(argument: Command['registeredArguments'][number]): ArgumentCompletion {
  if (argument.argChoices && argument.argChoices.length > 0) return { words: argument.argChoices };
  return /^dir(ectory)?$/i.test(argument.name()) ? 'directories' : 'none';
}

/** Up to the first colon or full stop: shells show one short line per choice. */
function firstSentence(text: string): string {
  const line = text.split('\n')[0]!.trim();
  const cut = line.search(/[:;(]| \u2014 /); // \u2014: an em dash (the CLI's bundle stays ASCII: scripts/build-cli.ts)
  return (cut > 0 ? line.slice(0, cut) : line).trim();
}
