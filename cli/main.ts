#!/usr/bin/env node
/**
 * `cluster` (package.json "bin"): runs the CLI's bundle, dist/cli/bundle/cluster.js, which
 * `npm run build` makes from cli/cluster.ts (scripts/build-cli.ts): one file instead of hundreds
 * of modules to find and load, with a V8 code cache per command in CLUSTER_HOME/cache
 * (cli/code-cache.ts). The agent runs from a bundle of its own, dist/cli/bundle/agent.js (only
 * what an agent loads: less memory than unbundled), and so does the control plane,
 * dist/cli/bundle/control-plane.js (a quarter less CPU to start, the same memory); `dev` runs the
 * program unbundled, dist/cli/cluster.js (docs/architecture.md, "The CLI's bundle").
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterHome } from '../lib/cluster-home';
import { runWithCodeCache } from './code-cache';
import { cacheName, commandWord, runsDaemon } from './command-index';

const BUNDLE = path.join(__dirname, 'bundle', 'cluster.js');
const AGENT_BUNDLE = path.join(__dirname, 'bundle', 'agent.js');
const CONTROL_PLANE_BUNDLE = path.join(__dirname, 'bundle', 'control-plane.js');

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
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // What the program would print, without reading the bundle for it.
  process.stdout.write(`${(require('./version') as typeof import('./version')).VERSION}\n`);
} else if (commandWord(args) === 'agent') {
  // The agent runs without V8's compilers above the interpreter until it is busy: held before
  // anything loads, as loading its code is enough to make Node's own loader hot (lib/compiler-tiers.ts).
  (require('../lib/compiler-tiers') as typeof import('../lib/compiler-tiers')).holdCompilers();
  require(AGENT_BUNDLE);
} else if (commandWord(args) === 'control-plane') {
  require(CONTROL_PLANE_BUNDLE);
} else if (runsDaemon(args)) {
  require('./cluster');
} else if (process.sourceMapsEnabled) {
  // Code run through vm.Script gets no source maps: with them asked for, the bundle loads plainly.
  require(BUNDLE);
} else {
  runWithCodeCache(BUNDLE, path.join(cacheDir(), `${cacheName(args)}.bin`));
}
