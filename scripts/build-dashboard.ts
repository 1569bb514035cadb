/**
 * Builds the dashboard's front end (dashboard/) into dist/dashboard: one bundle (Preact and
 * the pages, minified) by esbuild, the stylesheet and the page. Run by `npm run build`;
 * the control plane serves the result (control-plane/http/static-assets.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'dashboard');
const OUT = path.join(ROOT, 'dist', 'dashboard');

async function main(): Promise<void> {
  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  await build({
    entryPoints: [path.join(SRC, 'src', 'main.tsx')],
    outfile: path.join(OUT, 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(SRC, 'src', 'styles.css'), path.join(OUT, 'app.css'));
  fs.copyFileSync(path.join(SRC, 'index.html'), path.join(OUT, 'index.html'));
  const size = fs.statSync(path.join(OUT, 'app.js')).size;
  process.stdout.write(`dashboard: dist/dashboard/app.js ${(size / 1024).toFixed(1)} KiB\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`dashboard build failed: ${(err as Error).message}\n`);
  process.exit(1);
});
