/**
 * The dashboard's listener (`control-plane start --http HOST:PORT`): HTTPS with a certificate
 * signed by the cluster CA, or plain HTTP where the gRPC API is plain too (loopback, or
 * --insecure). Every replica serves it; what it shows comes from etcd and the agents through
 * the cluster API's own handlers (docs/dashboard.md).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { listenOn } from '../../lib/http-listen';
import { isLoopbackHost } from '../../lib/peer-address';
import type { Logger } from '../../lib/log';
import type { TlsMaterial } from '../../lib/tls';
import { DashboardRoutes, type RouteDeps } from './routes';

export interface DashboardServerOptions extends RouteDeps {
  listen: string;
  /** The certificate to serve (signed by the cluster CA); plain HTTP without it. */
  tls?: TlsMaterial;
}

/** Splits HOST:PORT (HOST may be [v6]). */
export function splitHostPort(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw new Error(`--http ${listen}: expected HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export class DashboardServer {
  private constructor(private readonly server: http.Server, readonly port: number, readonly secure: boolean, private readonly logger: Logger) {}

  static async start(opts: DashboardServerOptions): Promise<DashboardServer> {
    const { host, port } = splitHostPort(opts.listen);
    // On loopback /metrics is open, as `--metrics` is there; elsewhere it needs a token or a session.
    const routes = new DashboardRoutes({ ...opts, metricsOpen: opts.metricsOpen ?? isLoopbackHost(host) });
    // handle() answers every failure itself; a rejection here is a bug, logged.
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      routes.handle(req, res).catch((err: unknown) => opts.logger.error({ err }, 'bug: a dashboard request failed outside its handler'));
    };
    const server = opts.tls
      ? https.createServer({ cert: opts.tls.certPem, key: opts.tls.keyPem, minVersion: 'TLSv1.2' }, handler)
      : http.createServer(handler);
    // Bounded: slow or idle clients cannot hold sockets forever (live streams send keep-alives).
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // streams are long; bodies are capped in respond.ts
    server.maxHeadersCount = 100;
    server.on('clientError', (_err, socket) => socket.destroy());
    const bound = await listenOn(server, host, port, `the dashboard on ${opts.listen}`);
    opts.logger.info({ http: `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${bound}` }, 'dashboard listening');
    return new DashboardServer(server, bound, !!opts.tls, opts.logger);
  }

  /** Stops accepting, ends open streams. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    }).then(() => this.logger.debug('dashboard closed'));
  }
}
