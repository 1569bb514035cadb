/**
 * Builds the CLI's bundle, dist/cli/bundle/cluster.js, from cli/cluster.ts with esbuild: one
 * CommonJS file instead of ~150 modules to find and load one by one for `cluster ps` (and ~700 for
 * everything). Each command's `import()` in cli/command-index.ts stays lazy inside it: a command
 * runs only its own modules' code. dist/cli/main.js (cli/main.ts) starts it, with a V8 code cache
 * per command (cli/code-cache.ts). Run by `npm run build` after tsc; see docs/architecture.md,
 * "The CLI's bundle", and docs/stack-notes.md for the traps and the measurements.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build, type Plugin } from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT_DIR = path.join(ROOT, 'dist', 'cli', 'bundle');
const OUT = path.join(OUT_DIR, 'cluster.js');
/** How far the bundle's folder is below ROOT. */
const OUT_DEPTH = path.relative(ROOT, OUT_DIR).split(path.sep).length;

/**
 * The bundle starts with this: strict mode as the whole of it was compiled for (the directive
 * esbuild writes comes after a banner, where it means nothing), and `__clusterDir`, which stands
 * for `__dirname` (see below).
 */
const BANNER = [
  "'use strict';",
  `const __clusterRoot = require('node:path').join(__dirname${", '..'".repeat(OUT_DEPTH)});`,
  "const __clusterDir = (relative) => require('node:path').join(__clusterRoot, relative);",
].join('\n');

/**
 * A bundle has one `__dirname` (its own folder), and code finds files next to itself with it: our
 * modules (proto descriptors, dist/dashboard, dist/cli/main.js for daemons), etcd3 (its .proto
 * files), grpc-js. Each module's `__dirname`/`__filename` becomes the place it has outside the
 * bundle, relative to the package root: `dist/…` for our sources (where tsc puts them),
 * `node_modules/…` for a library's.
 */
function ownPaths(realRoot: string): Plugin {
  return {
    name: 'own-dirname',
    setup(b) {
      b.onLoad({ filter: /\.(ts|js|cjs|mjs)$/ }, (args) => {
        const text = fs.readFileSync(args.path, 'utf8');
        if (!/\b__(dirname|filename)\b/.test(text)) return undefined;
        const place = placeOf(args.path, realRoot);
        if (!place) return undefined;
        const contents = text
          .replace(/\b__dirname\b/g, `__clusterDir(${JSON.stringify(path.posix.dirname(place))})`)
          .replace(/\b__filename\b/g, `__clusterDir(${JSON.stringify(place)})`);
        return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}

/** The path, relative to the package root, that the file at `file` has when run unbundled. */
function placeOf(file: string, realRoot: string): string | undefined {
  const posix = file.split(path.sep).join('/');
  // A library: from the first node_modules on (node_modules may be a link to another tree).
  const lib = posix.indexOf('/node_modules/');
  if (lib >= 0) return posix.slice(lib + 1);
  const rel = path.relative(realRoot, file).split(path.sep).join('/');
  if (rel.startsWith('..')) return undefined;
  return `dist/${rel.replace(/\.ts$/, '.js')}`;
}

/**
 * grpc-js requires @grpc/proto-loader (and with it the whole of protobufjs, parser included) only
 * for channelz and ORCA, which we never use: left out of the bundle, it is loaded from
 * node_modules if ever needed. (etcd3's own copy, a different version, stays bundled.)
 */
const grpcJsLazyLoader: Plugin = {
  name: 'grpc-js-lazy-loader',
  setup(b) {
    b.onResolve({ filter: /^@grpc\/proto-loader$/ }, (args) => (/[\\/]@grpc[\\/]grpc-js[\\/]/.test(args.importer) ? { path: args.path, external: true } : undefined));
  },
};

async function main(): Promise<void> {
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  const result = await build({
    entryPoints: [path.join(ROOT, 'cli', 'cluster.ts')],
    outfile: OUT,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: ['node20'],
    // Less to read and parse at every start; names stay, so stack traces name the functions.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: BANNER },
    plugins: [ownPaths(fs.realpathSync(ROOT)), grpcJsLazyLoader],
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  // cli/main.ts reads the bundle as Latin-1, a plain copy into a one-byte string, where UTF-8 costs
  // a decoding, and a two-byte string of twice the size for any character beyond ASCII. esbuild
  // escapes them in strings but keeps them in regular expressions: write those as \uXXXX.
  const text = fs.readFileSync(OUT, 'latin1');
  const beyond = text.search(/[^\x00-\x7f]/);
  if (beyond >= 0) throw new Error(`the bundle must be ASCII; it is not at ${JSON.stringify(text.slice(beyond - 60, beyond + 10))} (write the character as \\uXXXX in the source)`);
  // What went where (for esbuild's analyzer, https://esbuild.github.io/analyze/).
  fs.writeFileSync(path.join(OUT_DIR, 'meta.json'), JSON.stringify(result.metafile));
  process.stdout.write(`cli: dist/cli/bundle/cluster.js, ${(fs.statSync(OUT).size / 1024 / 1024).toFixed(1)} MiB\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`CLI bundle failed: ${(err as Error).message}\n`);
  process.exit(1);
});
