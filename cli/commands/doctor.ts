/** cluster doctor [DIR]: check the definition file and .env before deploying, one line per check. */
import type { Command } from 'commander';
import { formatCheck, runChecks } from '../doctor/checks';

export function registerDoctor(program: Command): void {
  program
    .command('doctor [dir]')
    .description('check DIR (default .) before deploying: its Procfile (or docker-compose.yml), each command, .env; exit 1 on any ✗')
    .option('--env <name>', 'check Procfile.<name> (or Procfile_<name>), as deploy --env does')
    .action((dir: string | undefined, opts: { env?: string }) => {
      const results = runChecks(dir ?? '.', { env: opts.env, pathEnv: process.env.PATH });
      for (const result of results) console.log(formatCheck(result));
      // exitCode, not exit(): stdout may still be draining into a pipe.
      process.exitCode = results.some((result) => result.status === 'fail') ? 1 : 0;
    });
}
