/**
 * Serves Prometheus metrics at GET /metrics (`--metrics HOST:PORT` of the agent and of the
 * control plane). Plain HTTP on loopback; anywhere else HTTPS with the daemon's cluster
 * certificate, and the scraper must show a certificate signed by the cluster CA (as every
 * gRPC caller does). See docs/metrics.md.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { listenOn } from './http-listen';
import type { Logger } from './log';
import { isLoopbackHost } from './peer-address';
import type { TlsMaterial } from './tls';

export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface MetricsServer {
  /** host:port actually bound. */
  address: string;
  /** http or https. */
  scheme: 'http' | 'https';
  close(): Promise<void>;
}

/** How often the HTTPS server picks up a renewed certificate. */
const TLS_REFRESH_MS = 10 * 60_000;

/** Parses HOST:PORT for --metrics; throws a message naming the problem. */
export function parseMetricsListen(text: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`${text}: give HOST:PORT, e.g. 127.0.0.1:9101 (port 0 picks a free one)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * Starts the server. `tls` (the current material, read again every few minutes) is required
 * off loopback unless `insecure` (a daemon that runs without TLS as a whole, as asked).
 */
export async function startMetricsServer(opts: {
  listen: string;
  source: MetricsSource;
  logger: Logger;
  tls?: () => TlsMaterial;
  insecure?: boolean;
}): Promise<MetricsServer> {
  const { host, port } = parseMetricsListen(opts.listen);
  const loopback = isLoopbackHost(host);
  if (!loopback && !opts.tls && !opts.insecure) throw new Error(`--metrics ${opts.listen}: off loopback, metrics are served over HTTPS with the cluster certificate, and this daemon has none`);
  // serve() answers every failure itself (500); a rejection here is a bug, logged.
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    serve(req, res, opts.source, opts.logger).catch((err: unknown) => opts.logger.error({ err }, 'bug: a metrics request failed outside its handler'));
  };
  let refresh: NodeJS.Timeout | undefined;
  let server: http.Server | https.Server;
  if (loopback || !opts.tls) {
    server = http.createServer(handler);
  } else {
    const material = opts.tls;
    const context = (m: TlsMaterial) => ({ key: m.keyPem, cert: m.certPem, ca: m.caPem });
    let current = material();
    const secure = https.createServer({ ...context(current), requestCert: true, rejectUnauthorized: true }, handler);
    server = secure;
    refresh = setInterval(() => {
      const next = material();
      if (next.certPem === current.certPem) return;
      current = next;
      secure.setSecureContext(context(next));
    }, TLS_REFRESH_MS);
    refresh.unref();
  }
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const boundPort = await listenOn(server, host, port, `metrics on ${opts.listen}`).catch((err: unknown) => {
    clearInterval(refresh);
    throw err;
  });
  const scheme = loopback || !opts.tls ? 'http' : 'https';
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${boundPort}`,
    scheme,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(refresh);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(req: http.IncomingMessage, res: http.ServerResponse, source: MetricsSource, logger: Logger): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
    return;
  }
  try {
    const body = await source.render();
    res.writeHead(200, { 'content-type': source.contentType }).end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    logger.error({ err }, 'rendering metrics failed');
    res.writeHead(500, { 'content-type': 'text/plain' }).end('rendering metrics failed; see the daemon log\n');
  }
}

