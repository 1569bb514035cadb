/** Packs an app directory into a gzipped tarball, leaving out `.git` and what `.clusterignore` names. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';

/** Turns one ignore-file pattern into a test on a relative path (a small subset of .gitignore). */
function compilePattern(pattern: string): (rel: string) => boolean {
  const dirOnly = pattern.endsWith('/');
  const anchored = pattern.startsWith('/') || pattern.slice(0, -1).includes('/');
  const body = pattern.replace(/^\//, '').replace(/\/$/, '');
  const source = body
    .split('')
    .map((ch) => (ch === '*' ? '[^/]*' : ch === '?' ? '[^/]' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('')
    .replace(/\[\^\/\]\*\[\^\/\]\*/g, '.*'); // `**` crosses folders
  const re = new RegExp(anchored ? `^${source}(/|$)` : `(^|/)${source}(/|$)`);
  return (rel) => re.test(dirOnly ? `${rel}/` : rel) && (!dirOnly || re.test(`${rel}/`));
}

/** Reads `.clusterignore` (if any) into a predicate on paths relative to `dir`. */
export function loadIgnore(dir: string): (rel: string) => boolean {
  const tests: Array<(rel: string) => boolean> = [(rel) => rel === '.git' || rel.startsWith('.git/')];
  const file = path.join(dir, '.clusterignore');
  if (fs.existsSync(file)) {
    for (const raw of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
      const line = raw.trim();
      if (line && !line.startsWith('#')) tests.push(compilePattern(line));
    }
  }
  return (rel) => tests.some((t) => t(rel));
}

/** Writes the slug of `dir` to a temporary file; the caller removes it. */
export async function packDirectory(dir: string): Promise<{ file: string; size: number }> {
  const ignored = loadIgnore(dir);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-slug-')), 'slug.tgz');
  await tar.c(
    {
      gzip: true,
      cwd: dir,
      file,
      portable: true,
      filter: (p) => {
        const rel = path.posix.normalize(p).replace(/^\.\//, '');
        return rel === '.' || !ignored(rel);
      },
    },
    ['.'],
  );
  return { file, size: fs.statSync(file).size };
}
