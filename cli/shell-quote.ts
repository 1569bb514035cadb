/** POSIX shell quoting, so `sh -c` sees exactly the words the user typed. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command line for `cluster run -- ARGS`: one argument is taken as a shell command
 * (`cluster run -- "rake db:migrate | tee out"`), several are quoted word by word.
 */
export function commandLine(args: string[]): string {
  return args.length === 1 ? args[0]! : args.map(shellQuote).join(' ');
}
