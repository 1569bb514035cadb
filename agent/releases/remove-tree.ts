/**
 * Deletes a removed slug (a folder of the agent's data dir) even when an app left read-only
 * folders in it (`chmod -R a-w`, a Go module cache: mode 0555): an agent that is not root cannot
 * delete what is inside them, so it gives its own folders back their owner's write permission
 * first, walking the tree without following a symlink, and deletes again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const DENIED = new Set(['EACCES', 'EPERM']);

/** Deletes `target` and everything in it; throws what still stops it. */
export async function removeTree(target: string): Promise<void> {
  try {
    await fs.promises.rm(target, { recursive: true, force: true });
  } catch (err) {
    // Root is not stopped by modes: there is nothing to make writable, and a chmod by root could
    // reach anything.
    if (!DENIED.has((err as NodeJS.ErrnoException).code ?? '') || process.getuid?.() === 0) throw err;
    await makeFoldersWritable(target);
    await fs.promises.rm(target, { recursive: true, force: true });
  }
}

/**
 * Adds u+rwx to `dir` and every folder below it that this user owns. Entries are told apart with
 * lstat, so a symlink is never followed nor changed. chmod itself follows a link swapped in for a
 * folder meanwhile, but a user who is not root may only change its own files: nothing that the
 * app's processes, running as that user, could not change themselves.
 */
export async function makeFoldersWritable(dir: string): Promise<void> {
  const uid = process.getuid?.();
  const stat = await fs.promises.lstat(dir).catch(() => undefined);
  if (!stat?.isDirectory() || stat.uid !== uid) return;
  if ((stat.mode & 0o700) !== 0o700) await fs.promises.chmod(dir, (stat.mode & 0o7777) | 0o700).catch(() => undefined);
  const entries = await fs.promises.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) await makeFoldersWritable(path.join(dir, entry.name));
  }
}
