/**
 * The process that unpacks one slug for the agent (unpack-slug.ts):
 * `node unpack-slug-main.js ARCHIVE DIR AGENT_PID`. Each entry left out is one JSON string a line
 * on stdout; a failure is its message on stderr and exit status 1. It gives up when the agent that
 * started it is gone (its parent is no longer AGENT_PID, which also holds when the agent died
 * before this process started): nothing would use what it unpacks.
 */
import { extractSlug } from './extract-slug';

const [archive, dir, agentPid] = process.argv.slice(2);
if (archive === undefined || dir === undefined || !/^[1-9][0-9]*$/.test(agentPid ?? '')) {
  process.stderr.write('usage: unpack-slug-main.js ARCHIVE DIR AGENT_PID\n');
  process.exit(2);
}
const agentGone = () => process.ppid !== Number(agentPid);
// SIGKILL, not exit(): Node's exit waits for its thread pool, where a read may be stuck.
const giveUp = () => process.kill(process.pid, 'SIGKILL');
if (agentGone()) giveUp();
setInterval(() => agentGone() && giveUp(), 1_000).unref();

extractSlug(archive, dir, (message) => process.stdout.write(`${JSON.stringify(message)}\n`)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
