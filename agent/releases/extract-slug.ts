/**
 * Extracts a slug so that every symlink arrives exactly as the CLI packed it (docs/deploy-packing.md):
 * `-> /etc/passwd` or `-> ../common` included, which node-tar's extraction would rewrite
 * (`etc/passwd`) or drop. Safely all the same: node-tar writes every other entry, with its checks
 * on entry paths (no `..`, no absolute path), while there is no symlink yet that a write could go
 * through; the links are made last, each only in a folder of the slug reached without following one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Tar from 'tar';

/** A symlink entry of the archive: where it goes (relative to the slug) and its target, as packed. */
interface LinkEntry {
  path: string;
  target: string;
}

/**
 * Extracts the gzipped tarball `archive` into the existing, empty folder `dir`; `warn` hears each
 * entry left out and why. Runs in a process of its own (unpack-slug.ts).
 */
export async function extractSlug(archive: string, dir: string, warn: (message: string) => void): Promise<void> {
  const tar = require('tar') as typeof Tar;
  const links: LinkEntry[] = [];
  await tar.x({
    file: archive,
    cwd: dir,
    filter: (entryPath, entry) => {
      if (!('type' in entry) || entry.type !== 'SymbolicLink') return true;
      links.push({ path: entryPath, target: entry.linkpath ?? '' });
      return false;
    },
    onwarn: (code, message, data) => {
      const entry = data.entry as { path?: string } | undefined;
      warn(`${entry?.path ? `${entry.path}: ` : ''}${message} (${code})`);
    },
  });
  for (const link of links) {
    const problem = makeLink(dir, link);
    if (problem) warn(`symlink ${link.path} -> ${link.target} left out: ${problem}`);
  }
}

/** Makes one link; says why not when it cannot be made inside `dir`. */
function makeLink(dir: string, link: LinkEntry): string | undefined {
  // As node-tar treats the path of any entry: a leading `/` is taken off, `..` is refused.
  const parts = link.path.replace(/^\/+/, '').split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return 'no path';
  if (parts.includes('..')) return "its path contains '..'";
  if (link.target === '') return 'no target';
  let folder = dir;
  try {
    for (const part of parts.slice(0, -1)) {
      folder = path.join(folder, part);
      const stat = fs.lstatSync(folder, { throwIfNoEntry: false });
      if (!stat) fs.mkdirSync(folder);
      else if (!stat.isDirectory()) return `${path.relative(dir, folder)} is not a folder${stat.isSymbolicLink() ? ' (a symlink)' : ''}`;
    }
    fs.symlinkSync(link.target, path.join(folder, parts[parts.length - 1]!));
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}
