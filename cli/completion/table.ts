/** The command tree as flat (kind, key, value) rows that each shell's script looks up. */
import { flatten, type CompletionCommand } from './tree';

export type TableKind = 'subs' | 'child' | 'opts' | 'valopts' | 'choices' | 'arg';

/** A command's key: the program's name and the words that lead to it (`cluster agent join`). */
export function keyOf(path: string[], bin: string): string {
  return [bin, ...path].join(' ');
}

/** Rows for every command: its subcommands (aliases too), options, and what each argument completes. */
export function lookupTable(root: CompletionCommand, bin: string): Array<[TableKind, string, string]> {
  const rows: Array<[TableKind, string, string]> = [];
  for (const cmd of flatten(root)) {
    const key = keyOf(cmd.path, bin);
    if (cmd.subcommands.length > 0) rows.push(['subs', key, cmd.subcommands.flatMap((sub) => sub.names).join(' ')]);
    for (const sub of cmd.subcommands) {
      for (const name of sub.names) rows.push(['child', `${key} ${name}`, keyOf(sub.path, bin)]);
    }
    rows.push(['opts', key, cmd.options.flatMap((option) => option.flags).join(' ')]);
    const valued = cmd.options.filter((option) => option.takesValue);
    if (valued.length > 0) rows.push(['valopts', key, valued.flatMap((option) => option.flags).join(' ')]);
    for (const option of valued) {
      if (option.choices.length === 0) continue;
      for (const flag of option.flags) rows.push(['choices', `${key} ${flag}`, option.choices.join(' ')]);
    }
    // Keyed by position: `agents:web ID on|off` offers on and off for its second argument only.
    cmd.args.forEach((arg, position) => {
      if (arg === 'directories') rows.push(['arg', `${key} ${position}`, '@dirs']);
      else if (arg !== 'none') rows.push(['arg', `${key} ${position}`, arg.words.join(' ')]);
    });
  }
  return rows;
}

/** POSIX single quotes (bash, zsh and fish read `'it'\''s'` the same way except fish: see fishQuote). */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Fish single quotes: only `\\` and `\'` are escapes inside them. */
export function fishQuote(text: string): string {
  return `'${text.replace(/[\\']/g, '\\$&')}'`;
}
