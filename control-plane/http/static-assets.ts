/**
 * The dashboard's front end, built from dashboard/ into dist/dashboard by `npm run build`
 * (docs/dashboard.md): read once at start, served from memory, nothing from a CDN.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServerResponse } from 'node:http';

/** Where the build puts the front end: dist/dashboard (this file runs from dist/control-plane/http). */
export const ASSET_DIR = path.resolve(__dirname, '..', '..', 'dashboard');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

interface Asset {
  type: string;
  body: Buffer;
}

export class StaticAssets {
  private readonly files = new Map<string, Asset>();

  constructor(dir = ASSET_DIR) {
    if (!fs.existsSync(dir)) return; // served as a plain explanation instead (see index())
    for (const name of fs.readdirSync(dir)) {
      const type = TYPES[path.extname(name)];
      if (type) this.files.set(name, { type, body: fs.readFileSync(path.join(dir, name)) });
    }
  }

  /** Serves /assets/NAME; false when there is no such file. */
  serveAsset(name: string, res: ServerResponse): boolean {
    const asset = name === 'index.html' ? undefined : this.files.get(name);
    if (!asset) return false;
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
    res.end(asset.body);
    return true;
  }

  /** The page every dashboard URL loads (the front end routes by path). */
  serveIndex(res: ServerResponse): void {
    const index = this.files.get('index.html');
    const body = index?.body ?? Buffer.from('<!doctype html><title>cluster</title><p>The dashboard was not built: run <code>npm run build</code>.</p>');
    res.writeHead(index ? 200 : 500, { 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  }
}

/** The answer to a page or API request without a session: what to do about it. */
export function sendLoginNeeded(res: ServerResponse, asJson: boolean, reason = 'you are not logged in to this dashboard'): void {
  const advice = 'run `cluster dashboard` for a login link';
  if (asJson) {
    const body = JSON.stringify({ error: `${reason}: ${advice}` });
    res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(body);
    return;
  }
  const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · cluster</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><main class="login-needed"><h1>cluster</h1><p>${escape(reason.charAt(0).toUpperCase() + reason.slice(1))}.</p>
<p>Run <code>cluster dashboard</code> on a machine where you use the <code>cluster</code> command: it opens a login link that works once, for a few minutes.</p></main></body></html>`);
}
