/**
 * A child process that sweeps a slugs directory as the user it runs as (a test started as root
 * starts it as another user: root is not stopped by modes), removing every unused slug at once.
 * Usage: node sweep-slugs.js DIR SWEEPS. Prints the janitor's log lines (JSON), then the removed digests.
 */
import pino from 'pino';
import { SlugJanitor } from '../../agent/releases/slug-janitor';

async function main(): Promise<void> {
  const [dir, sweeps] = process.argv.slice(2);
  const logger = pino({ level: 'warn' }, pino.destination({ fd: 1, sync: true }));
  const janitor = new SlugJanitor({ dir: dir!, keepMs: 0, inUse: () => new Set(), processDirs: () => [], logger });
  const removed: string[] = [];
  for (let i = 0; i < Number(sweeps); i++) removed.push(...(await janitor.sweep()));
  process.stdout.write(`${JSON.stringify({ removed })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
