/**
 * Runs a CommonJS file with a V8 code cache: the code an earlier run compiled is read back instead
 * of parsing and compiling the source again (Node 20 has no module compile cache of its own;
 * `module.enableCompileCache` is Node 22). The cache holds every function the run compiled, so
 * one cache per command (cli/main.ts) holds what that command runs. V8 checks that a cache fits
 * the source, its own version and flags, and ignores one that does not; the cache is then made
 * again. Measurements: docs/stack-notes.md, "The CLI's bundle".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { createRequire, Module } from 'node:module';

/**
 * Reads `file` (CommonJS, ASCII: read as Latin-1, a plain copy, where UTF-8 decodes) and runs it
 * as a module, with the compiled code kept in `cacheFile`.
 */
export function runWithCodeCache(file: string, cacheFile: string): void {
  const source = fs.readFileSync(file, 'latin1');
  let cachedData: Buffer | undefined;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    // none yet (or unreadable): compiled from the source, and written after a successful run
  }
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  // After a run that went well: a failed one (no server, say) compiled less of what it needs.
  if (!cachedData || script.cachedDataRejected) process.once('exit', (code) => code === 0 && writeCache(cacheFile, script));
  const module = new Module(file);
  module.filename = file;
  const wrapper = script.runInThisContext() as (exports: unknown, require: NodeJS.Require, module: Module, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
}

/**
 * Writes the cache whole or not at all (other runs may read it at the same time); never fails the
 * run. A new folder for it means a new build: the folders of older ones next to it (same prefix
 * before the first `-`) go.
 */
function writeCache(cacheFile: string, script: vm.Script): void {
  try {
    const dir = path.dirname(cacheFile);
    if (fs.mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) removeSiblings(dir);
    const temp = `${cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(temp, script.createCachedData(), { mode: 0o600 });
    fs.renameSync(temp, cacheFile);
  } catch {
    // a read-only home: every run compiles, as without a cache
  }
}

function removeSiblings(dir: string): void {
  const parent = path.dirname(dir);
  const own = path.basename(dir);
  const prefix = `${own.split('-')[0]!}-`;
  for (const name of fs.readdirSync(parent)) {
    if (name !== own && name.startsWith(prefix)) fs.rmSync(path.join(parent, name), { recursive: true, force: true });
  }
}
