/** cluster completion bash|zsh|fish: a completion script generated from this CLI's own commands. */
import { Argument, type Command } from 'commander';
import { bashScript } from '../completion/bash';
import { fishScript } from '../completion/fish';
import { completionTree } from '../completion/tree';
import { zshScript } from '../completion/zsh';

const SCRIPTS = { bash: bashScript, zsh: zshScript, fish: fishScript };
type Shell = keyof typeof SCRIPTS;

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for bash, zsh or fish (commands, subcommands, options)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(Object.keys(SCRIPTS)))
    .addHelpText(
      'after',
      [
        '',
        'Install:',
        '  bash: cluster completion bash > ~/.local/share/bash-completion/completions/cluster',
        '  zsh:  cluster completion zsh > "${fpath[1]}/_cluster"   (then start a new shell)',
        '  fish: cluster completion fish > ~/.config/fish/completions/cluster.fish',
      ].join('\n'),
    )
    .action((shell: Shell) => {
      // The root program, so that every command registered (before or after this one) completes.
      let root = program;
      while (root.parent) root = root.parent;
      process.stdout.write(SCRIPTS[shell](completionTree(root), root.name()));
    });
}
