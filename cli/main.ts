#!/usr/bin/env node
/**
 * `cluster` (package.json "bin"): runs the CLI's bundle, dist/cli/bundle/cluster.js, which
 * `npm run build` makes from cli/cluster.ts (scripts/build-cli.ts): one file instead of hundreds
 * of modules to find and load. A command runs it with a V8 code cache of its own in
 * CLUSTER_HOME/cache (cli/code-cache.ts); the daemons load it plainly (their start is rare, their
 * memory is not). With `node --enable-source-maps` (or NODE_OPTIONS) stack traces name source
 * lines; not by default: the map costs a daemon ~18 MB. `node dist/cli/cluster.js` runs the same
 * program unbundled. See docs/architecture.md, "The CLI's bundle".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterHome } from '../lib/cluster-home';
import { runWithCodeCache } from './code-cache';
import { cacheName, runsDaemon } from './command-index';

const BUNDLE = path.join(__dirname, 'bundle', 'cluster.js');

/** The cache folder of this build of the bundle, for this Node: a new build or Node makes a new one. */
function cacheDir(): string {
  const { size, mtimeMs } = fs.statSync(BUNDLE);
  return path.join(clusterHome(), 'cache', `cli-${process.version}-${process.arch}-${size}-${Math.floor(mtimeMs)}`);
}

const args = process.argv.slice(2);
if (!fs.existsSync(BUNDLE)) {
  process.stderr.write(`error: ${BUNDLE} is missing: build the CLI with \`npm run build\`\n`);
  process.exit(3);
}
// Code run through vm.Script gets no source maps: with them on, the bundle loads plainly.
if (runsDaemon(args) || process.sourceMapsEnabled) {
  require(BUNDLE);
} else {
  runWithCodeCache(BUNDLE, path.join(cacheDir(), `${cacheName(args)}.bin`));
}
