/**
 * Builds the CLI's bundle, dist/cli/bundle/cluster.js, from cli/cluster.ts with esbuild: one
 * CommonJS file instead of ~150 modules to find and load one by one for `cluster ps` (and ~700 for
 * everything). Each command's `import()` in cli/command-index.ts stays lazy inside it: a command
 * runs only its own modules' code. dist/cli/main.js (cli/main.ts) starts it, with a V8 code cache
 * per command (cli/code-cache.ts). And a bundle per daemon: dist/cli/bundle/agent.js, from
 * cli/agent-program.ts, the `agent` command and what an agent loads, nothing else; and
 * dist/cli/bundle/control-plane.js, from cli/control-plane-program.ts, the `control-plane` command
 * (every library inside: it loads most of them). Run by `npm run
 * build` after tsc; see docs/architecture.md, "The CLI's bundle", and docs/stack-notes.md for the
 * traps and the measurements.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build, type Plugin } from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');
const OUT_DIR = path.join(ROOT, 'dist', 'cli', 'bundle');
/** How far the bundle's folder is below ROOT. */
const OUT_DEPTH = path.relative(ROOT, OUT_DIR).split(path.sep).length;

/**
 * The bundle starts with this: strict mode as the whole of it was compiled for (the directive
 * esbuild writes comes after a banner, where it means nothing), and what stands for `__dirname`
 * (see below): `__clusterDir` for our files, `__clusterPackageDir` for a library's, found where
 * Node finds the library (node_modules may be in a folder above the package).
 */
const BANNER = [
  "'use strict';",
  `const __clusterRoot = require('node:path').join(__dirname${", '..'".repeat(OUT_DEPTH)});`,
  "const __clusterDir = (relative) => require('node:path').join(__clusterRoot, relative);",
  'const __clusterPackageDir = (name, relative) => {',
  "  const main = require.resolve(name), at = main.lastIndexOf(`/node_modules/${name}/`);",
  "  return require('node:path').join(main.slice(0, at + name.length + 14), relative);",
  '};',
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
        const at = (relative: string) => (place.pkg ? `__clusterPackageDir(${JSON.stringify(place.pkg)}, ${JSON.stringify(relative)})` : `__clusterDir(${JSON.stringify(relative)})`);
        const contents = text.replace(/\b__dirname\b/g, at(path.posix.dirname(place.file))).replace(/\b__filename\b/g, at(place.file));
        return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js', resolveDir: path.dirname(args.path) };
      });
    },
  };
}

/**
 * Where the file at `file` is when run unbundled: in a library (`pkg`, the package under the first
 * node_modules; `file` relative to its folder), or ours (`file` relative to the package root,
 * where tsc puts it in dist/).
 */
function placeOf(file: string, realRoot: string): { pkg?: string; file: string } | undefined {
  const posix = file.split(path.sep).join('/');
  const lib = posix.indexOf('/node_modules/');
  if (lib >= 0) {
    const parts = posix.slice(lib + '/node_modules/'.length).split('/');
    const size = parts[0]!.startsWith('@') ? 2 : 1;
    return { pkg: parts.slice(0, size).join('/'), file: parts.slice(size).join('/') };
  }
  const rel = path.relative(realRoot, file).split(path.sep).join('/');
  if (rel.startsWith('..')) return undefined;
  return { file: `dist/${rel.replace(/\.ts$/, '.js')}` };
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

/**
 * The libraries an idle agent loads; the agent's bundle takes in these (and what they require)
 * and leaves every other dependency of package.json outside, loaded from node_modules if ever
 * needed (certificates, metrics): code in the bundle costs memory whether it runs or not. Slugs
 * are unpacked by a process of their own, dist/agent/releases/unpack-slug-main.js (tsc's output).
 */
const AGENT_LIBRARIES = ['@grpc/grpc-js', 'protobufjs', 'pino', 'commander'];

interface BundleSpec {
  /** The entry point, relative to ROOT. */
  entry: string;
  /** The bundle's file name in OUT_DIR. */
  name: string;
  /** Packages left out of the bundle. */
  external?: string[];
}

const BUNDLES: BundleSpec[] = [
  { entry: 'cli/cluster.ts', name: 'cluster.js' },
  { entry: 'cli/control-plane-program.ts', name: 'control-plane.js' },
  { entry: 'cli/agent-program.ts', name: 'agent.js', external: dependencies().filter((d) => !AGENT_LIBRARIES.includes(d)) },
];

function dependencies(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return Object.keys(pkg.dependencies);
}

async function bundle(spec: BundleSpec): Promise<void> {
  const out = path.join(OUT_DIR, spec.name);
  const result = await build({
    entryPoints: [path.join(ROOT, spec.entry)],
    outfile: out,
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
    external: spec.external,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  });
  // cli/main.ts reads the bundle as Latin-1, a plain copy into a one-byte string, where UTF-8 costs
  // a decoding, and a two-byte string of twice the size for any character beyond ASCII. esbuild
  // escapes them in strings but keeps them in regular expressions: write those as \uXXXX.
  const bytes = fs.readFileSync(out);
  const beyond = bytes.findIndex((b) => b > 0x7f);
  if (beyond >= 0) throw new Error(`${spec.name} must be ASCII; it is not at ${JSON.stringify(bytes.subarray(Math.max(0, beyond - 60), beyond + 10).toString())} (write the character as \\uXXXX in the source)`);
  // What went where (for esbuild's analyzer, https://esbuild.github.io/analyze/).
  fs.writeFileSync(path.join(OUT_DIR, spec.name.replace(/\.js$/, '.meta.json')), JSON.stringify(result.metafile));
  process.stdout.write(`cli: dist/cli/bundle/${spec.name}, ${(fs.statSync(out).size / 1024 / 1024).toFixed(1)} MiB\n`);
}

async function main(): Promise<void> {
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  await Promise.all(BUNDLES.map(bundle));
}

main().catch((err: unknown) => {
  process.stderr.write(`CLI bundle failed: ${(err as Error).message}\n`);
  process.exit(1);
});
