/**
 * The `cluster` CLI: every user command, and the daemons' entry points. `cluster` (dist/cli/main.js)
 * runs this file from the CLI's bundle (scripts/build-cli.ts) for a command, and as tsc compiled it
 * (dist/cli/cluster.js) for the control plane and `dev`; the agent runs from a bundle of its own
 * (cli/agent-program.ts). `node dist/cli/cluster.js` runs any command unbundled.
 */
import { modulesFor } from './command-index';
import { rootProgram } from './root-program';

async function main(): Promise<void> {
  const program = rootProgram();
  // Only the module of the command being run is loaded (all of them for help and completion).
  for (const register of await Promise.all(modulesFor(process.argv.slice(2)).map((m) => m.load()))) register(program);
  await program.parseAsync(process.argv);
}

main().catch(async (err: unknown) => (await import('./command-kit.js')).fail(err));
