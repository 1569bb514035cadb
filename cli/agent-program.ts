/**
 * `cluster agent …` alone: the program of the agent's bundle, dist/cli/bundle/agent.js
 * (scripts/build-cli.ts), which cli/main.ts runs for an `agent` command. It holds only what an
 * agent loads, minified, so the agent daemon keeps less of its own code in memory
 * (docs/architecture.md, "The CLI's bundle").
 */
import { registerAgent } from './commands/agent';
import { fail } from './command-kit';
import { rootProgram } from './root-program';

const program = rootProgram();
registerAgent(program);
program.parseAsync(process.argv).catch((err: unknown) => fail(err));
