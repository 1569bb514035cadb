/** Packs an app directory into a gzipped tarball of what git would keep (see pack-ignore.ts). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { formatBytes } from '../lib/limits';
import { UserError } from './errors';
import { listPackedFiles, type PackList } from './pack-ignore';

/** The slug file (the caller removes its folder), its size, and what went in. */
export interface PackedSlug {
  file: string;
  size: number;
  list: PackList;
}

/** A new temporary folder for a slug: `$TMPDIR/cluster-slug-XXXXXX`. */
export function makeSlugFolder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-slug-'));
}

/**
 * Writes the slug of `dir` to `slug.tgz` in `folder`, which the caller removes, or else in a new
 * temporary folder (makeSlugFolder), removed here when packing fails.
 */
export async function packDirectory(dir: string, folder?: string): Promise<PackedSlug> {
  let list: PackList;
  try {
    list = listPackedFiles(dir);
  } catch (err) {
    throw vanished(dir, err) ?? err;
  }
  if (list.files === 0) throw new UserError(`nothing to deploy in ${path.resolve(dir)}: .gitignore and .clusterignore leave out every file`);
  const into = folder ?? makeSlugFolder();
  const file = path.join(into, 'slug.tgz');
  // The listed paths only: folders are listed one by one, so they are not recursed into. A path
  // starting with `@` would be read by node-tar as an archive to append (`@types/`): `./` keeps it a path.
  const paths = list.entries.map((rel) => (rel.startsWith('@') ? `./${rel}` : rel));
  const changes = new ChangedFiles(dir);
  try {
    try {
      await tar.c({ gzip: true, cwd: dir, file, portable: true, noDirRecurse: true, onWriteEntry: (entry) => changes.watch(entry) }, paths);
    } catch (err) {
      throw changes.fromTarError(err) ?? vanished(dir, err) ?? err;
    }
    changes.check();
    return { file, size: fs.statSync(file).size, list };
  } catch (err) {
    if (folder === undefined) fs.rmSync(into, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A file or folder of `dir` deleted (or moved) between being listed and being packed: node-tar's
 * or the walk's ENOENT, as a user's error (exit 1) naming it, like a file that changed size.
 */
function vanished(dir: string, err: unknown): UserError | undefined {
  const { code, path: absolute } = err as { code?: unknown; path?: unknown };
  if (code !== 'ENOENT' || typeof absolute !== 'string') return undefined;
  const rel = path.relative(path.resolve(dir), path.resolve(dir, absolute));
  // The deployed directory itself, or something outside it: not a file being packed.
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return undefined;
  const name = rel.split(path.sep).join('/');
  return new UserError(`${name} vanished while it was being packed (deleted or moved); deploy again once it is stable, or leave it out with .clusterignore`);
}

/**
 * Files whose size changed while they were packed. node-tar writes a file's size in its header
 * from one lstat, then reads that many bytes: it fails on a file that ends sooner, and on one that
 * grew when its last read has room for more (not when the size is a multiple of 512 bytes: the
 * file is then cut at the old size without a word). Either way the slug would not hold the file
 * as it is: a user's error (exit 1) naming the file, never node-tar's `did not encounter
 * expected EOF` (exit 3, a failure of the cluster).
 */
class ChangedFiles {
  private readonly root: string;
  private readonly changed: Array<{ absolute: string; grew: boolean }> = [];

  constructor(dir: string) {
    this.root = path.resolve(dir);
  }

  /** Compares a file's size once it is packed with the size in its header. */
  watch(entry: tar.WriteEntry): void {
    if (entry.type !== 'File' || !entry.stat) return;
    const packed = entry.stat.size;
    entry.once('end', () => {
      const now = fs.lstatSync(entry.absolute, { throwIfNoEntry: false })?.size ?? 0;
      if (now !== packed) this.changed.push({ absolute: entry.absolute, grew: now > packed });
    });
  }

  /** Throws for the first file that changed. */
  check(): void {
    const first = this.changed[0];
    if (first) throw this.error(first.absolute, first.grew);
  }

  /** node-tar's failure on a file that did not end where its header says, as a UserError. */
  fromTarError(err: unknown): UserError | undefined {
    const { code, path: absolute, message } = err as { code?: unknown; path?: unknown; message?: unknown };
    if (code !== 'EOF' || typeof absolute !== 'string') return undefined;
    return this.error(absolute, message === 'did not encounter expected EOF');
  }

  private error(absolute: string, grew: boolean): UserError {
    const rel = path.relative(this.root, absolute).split(path.sep).join('/');
    return new UserError(`${rel} changed while it was being packed (it ${grew ? 'grew' : 'shrank'}); deploy again once it is stable, or leave it out with .clusterignore`);
  }
}

/** One line on what was packed: `Packed 12 files (3.4 KiB, 1.2 KiB compressed); left out: node_modules/, .env`. */
export function describePack(slug: PackedSlug): string {
  const { files, bytes, leftOut } = slug.list;
  const shown = leftOut.slice(0, 5).join(', ');
  const more = leftOut.length > 5 ? ` and ${leftOut.length - 5} more` : '';
  const left = leftOut.length > 0 ? `; left out (.gitignore, .clusterignore): ${shown}${more}` : '';
  return `Packed ${files} file${files === 1 ? '' : 's'} (${formatBytes(bytes)}, ${formatBytes(slug.size)} compressed)${left}`;
}
