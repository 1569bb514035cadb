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

/** Writes the slug of `dir` to a temporary file. */
export async function packDirectory(dir: string): Promise<PackedSlug> {
  const list = listPackedFiles(dir);
  if (list.files === 0) throw new UserError(`nothing to deploy in ${path.resolve(dir)}: .gitignore and .clusterignore leave out every file`);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-slug-')), 'slug.tgz');
  // The listed paths only: folders are listed one by one, so they are not recursed into. A path
  // starting with `@` would be read by node-tar as an archive to append (`@types/`): `./` keeps it a path.
  const paths = list.entries.map((rel) => (rel.startsWith('@') ? `./${rel}` : rel));
  await tar.c({ gzip: true, cwd: dir, file, portable: true, noDirRecurse: true }, paths);
  return { file, size: fs.statSync(file).size, list };
}

/** One line on what was packed: `Packed 12 files (3.4 KiB, 1.2 KiB compressed); left out: node_modules/, .env`. */
export function describePack(slug: PackedSlug): string {
  const { files, bytes, leftOut } = slug.list;
  const shown = leftOut.slice(0, 5).join(', ');
  const more = leftOut.length > 5 ? ` and ${leftOut.length - 5} more` : '';
  const left = leftOut.length > 0 ? `; left out (.gitignore, .clusterignore): ${shown}${more}` : '';
  return `Packed ${files} file${files === 1 ? '' : 's'} (${formatBytes(bytes)}, ${formatBytes(slug.size)} compressed)${left}`;
}
