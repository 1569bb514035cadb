/** This build's package root and version, from package.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';

function findRoot(): { root: string; version: string } {
  for (const up of ['..', '../..', '../../..']) {
    try {
      const root = path.resolve(__dirname, up);
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cluster') return { root, version: pkg.version ?? '0.0.0' };
    } catch {
      // try the next folder up
    }
  }
  return { root: process.cwd(), version: '0.0.0' };
}

const found = findRoot();

export const VERSION = found.version;
/** The folder holding package.json (and examples/). */
export const PACKAGE_ROOT = found.root;
