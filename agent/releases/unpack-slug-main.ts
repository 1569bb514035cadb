/**
 * The process that unpacks one slug for the agent (unpack-slug.ts):
 * `node unpack-slug-main.js ARCHIVE DIR`. Each entry left out is one JSON string a line on stdout;
 * a failure is its message on stderr and exit status 1. It gives up when the agent that started it
 * is gone: nothing would use what it unpacks.
 */
import { extractSlug } from './extract-slug';

const [archive, dir] = process.argv.slice(2);
const agent = process.ppid;
setInterval(() => {
  if (process.ppid !== agent) process.exit(1);
}, 1_000).unref();

if (archive === undefined || dir === undefined) {
  process.stderr.write('usage: unpack-slug-main.js ARCHIVE DIR\n');
  process.exit(2);
}
extractSlug(archive, dir, (message) => process.stdout.write(`${JSON.stringify(message)}\n`)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
