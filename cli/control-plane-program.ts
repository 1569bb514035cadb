/**
 * `cluster control-plane …` alone: the program of the control plane's bundle,
 * dist/cli/bundle/control-plane.js (scripts/build-cli.ts), which cli/main.ts runs for a
 * `control-plane` command.
 */
import { registerControlPlane } from './commands/control-plane';
import { fail } from './command-kit';
import { rootProgram } from './root-program';

const program = rootProgram();
registerControlPlane(program);
program.parseAsync(process.argv).catch((err: unknown) => fail(err));
