/**
 * What `deploy` leaves out, as git would: `.git`, and what `.gitignore` files (in every folder, and
 * in the folders above up to the repository's root) and `.clusterignore` files exclude, with
 * gitignore's full rules (negation, `**`, directory-only patterns, anchoring; a deeper file wins;
 * nothing inside an excluded folder comes back). The rules are the `ignore` package's, which
 * follows git's documentation and its test suite. See docs/deploy-packing.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { UserError } from './errors';

/** The files read in each folder; in one folder a later file's rules win (`.clusterignore` can re-include). */
export const IGNORE_FILES = ['.gitignore', '.clusterignore'];

/** What a deploy packs: paths relative to the directory (folders too, so empty ones are kept). */
export interface PackList {
  entries: string[];
  files: number;
  bytes: number;
  /** The topmost paths left out (a folder stands for everything in it); `.git` is not listed. */
  leftOut: string[];
}

interface Rules {
  /** The folder the rules belong to, absolute. */
  base: string;
  ignore: Ignore;
}

/** Walks `dir` and lists what a deploy packs. */
export function listPackedFiles(dir: string): PackList {
  const root = path.resolve(dir);
  const list: PackList = { entries: [], files: 0, bytes: 0, leftOut: [] };
  walk(root, '', ancestorRules(root), list);
  return list;
}

function walk(root: string, relDir: string, inherited: Rules[], list: PackList): void {
  const absDir = path.join(root, relDir);
  const own = rulesOf(absDir, IGNORE_FILES);
  const rules = own ? [...inherited, own] : inherited;
  const entries = fs.readdirSync(absDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (entries.some((e) => e.name.includes('\uFFFD'))) refuseNonUtf8Names(absDir, relDir);
  for (const entry of entries) {
    if (entry.name === '.git') continue;
    const rel = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
    // A symlink is packed as a link (as git stores it), never followed.
    const isDir = entry.isDirectory();
    if (!isDir && !entry.isFile() && !entry.isSymbolicLink()) continue; // sockets, FIFOs: nothing to ship
    if (isIgnored(rules, path.join(root, rel), isDir)) {
      list.leftOut.push(isDir ? `${rel}/` : rel);
      continue;
    }
    list.entries.push(rel);
    if (isDir) {
      walk(root, rel, rules, list);
    } else {
      list.files++;
      list.bytes += fs.lstatSync(path.join(root, rel)).size;
    }
  }
}

/**
 * A name that is not valid UTF-8 reads as U+FFFD, and the file is then not found under that
 * name (it said the file "vanished while it was being packed"): it is named instead, its
 * undecodable bytes as \xNN. A slug's names are UTF-8, as the agents unpack them.
 */
function refuseNonUtf8Names(absDir: string, relDir: string): void {
  for (const raw of fs.readdirSync(absDir, { encoding: 'buffer' })) {
    if (Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) continue;
    const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
    throw new UserError(`${relDir === '' ? '' : `${relDir}/`}${shown}: its name is not valid UTF-8; rename it (file names in a deploy are UTF-8), or move it out of the folder`);
  }
}

/**
 * The deepest rules that say anything about the path decide (git's precedence). The walk only
 * reaches a path whose folder it kept: a set of rules that excludes that folder (the root's
 * `dist/`, re-included deeper by `!dist/`) says nothing about what is inside (the `ignore`
 * package would exclude it with its folder; git does not). Such a set is skipped for the path,
 * which also skips its patterns that would match the path itself (`*.map` beside `dist/`): rare.
 */
function isIgnored(rules: Rules[], absPath: string, isDir: boolean): boolean {
  for (let i = rules.length - 1; i >= 0; i--) {
    const rule = rules[i]!;
    const rel = path.relative(rule.base, absPath).split(path.sep).join('/');
    const result = rule.ignore.test(isDir ? `${rel}/` : rel);
    const folder = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
    if (result.ignored && folder !== '' && rule.ignore.test(folder).ignored) continue;
    if (result.ignored) return true;
    if (result.unignored) return false;
  }
  return false;
}

/** The rules of the ignore files in `absDir`, or undefined when it has none. */
function rulesOf(absDir: string, names: string[]): Rules | undefined {
  let rules: Ignore | undefined;
  for (const name of names) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(absDir, name), 'utf8');
    } catch {
      continue; // absent (or a folder by that name): no rules
    }
    // Git compares case-sensitively on Linux (core.ignorecase=false).
    rules ??= ignore({ ignorecase: false });
    rules.add(text.replace(/^\uFEFF/, ''));
  }
  return rules && { base: absDir, ignore: rules };
}

/**
 * When `root` is inside a git work tree, the `.gitignore` files of the folders above it, up to the
 * work tree's top, apply too (git reads them). Not when they exclude `root` itself: deploying an
 * ignored folder on purpose (a build output) packs it.
 */
function ancestorRules(root: string): Rules[] {
  if (fs.existsSync(path.join(root, '.git'))) return [];
  const above: string[] = [];
  for (let dir = path.dirname(root); ; dir = path.dirname(dir)) {
    above.unshift(dir);
    if (fs.existsSync(path.join(dir, '.git'))) break;
    if (path.dirname(dir) === dir) return []; // not in a git work tree
  }
  const rules = above.map((dir) => rulesOf(dir, ['.gitignore'])).filter((r): r is Rules => r !== undefined);
  return isIgnored(rules, root, true) ? [] : rules;
}
