/**
 * Every URL the dashboard answers: login, the pages, the JSON API, the live streams and
 * /metrics. Everything but login and the static assets needs a session — /metrics too, except on
 * a loopback listener or with the bearer token of `--metrics-token-file` (docs/metrics.md);
 * every POST needs the session's CSRF token too (csrf.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClusterApiHandlers } from '../../proto/gen/cluster/api/ClusterApi';
import type { Logger } from '../../lib/log';
import { cookieValue, SESSION_COOKIE, sessionCookie } from './cookies';
import { csrfProblem } from './csrf';
import { DashboardActions } from './actions';
import { appFromUrl, DashboardViews } from './api-views';
import type { ChangeFeed } from './change-feed';
import { HttpError } from './grpc-bridge';
import { endWithSession, serveLiveView, SharedViews } from './live-views';
import { serveLogStream } from './log-stream';
import { readJsonBody, sendError, sendJson } from './respond';
import { LinkRejectedError, type DashboardSessions, type Session } from './sessions';
import { EventStream } from './sse';
import { sendLoginNeeded, type StaticAssets } from './static-assets';

/** What /metrics serves (a Prometheus registry's text). */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface RouteDeps {
  api: ClusterApiHandlers;
  sessions: DashboardSessions;
  feed: ChangeFeed;
  assets: StaticAssets;
  metrics?: MetricsSource;
  /** /metrics answers anyone (the listener is on loopback, as `--metrics` is plain there); else it needs the token or a session. */
  metricsOpen?: boolean;
  /** The bearer token (`--metrics-token-file`) a scraper may show for /metrics instead of a session. */
  metricsToken?: string;
  /** Whether responses travel over TLS (the cookie is then Secure). */
  secure: boolean;
  logger: Logger;
  /** Live streams open at once, at most (each holds a watch subscription or upstream log streams). */
  maxStreams?: number;
}

const PAGE = /^\/(?:apps(?:\/[^/]+)?|agents)?\/?$/;
const TYPE_OR_INSTANCE = /^[A-Za-z0-9_-]{1,63}(?:\.\d{1,6})?$/;

/** The decoded path segments after /api/. */
function segments(path: string): string[] {
  try {
    return path.split('/').slice(2).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, `malformed URL ${path.slice(0, 100)}`);
  }
}

export class DashboardRoutes {
  private readonly views: DashboardViews;
  private readonly actions: DashboardActions;
  private streams = 0;
  private readonly shared = new SharedViews();

  constructor(private readonly deps: RouteDeps) {
    this.views = new DashboardViews(deps.api);
    this.actions = new DashboardActions(deps.api);
  }

  /** Answers one request; never throws. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.route(req, res);
    } catch (err) {
      if (!(err instanceof HttpError)) this.deps.logger.error({ err, url: req.url?.split('?')[0] }, 'dashboard request failed');
      sendError(res, err);
    }
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('content-security-policy', "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");

    if (method === 'GET' && path === '/login') return this.login(url, res);
    if (method === 'GET' && path === '/metrics') return this.metrics(req, res);
    if (method === 'GET' && path.startsWith('/assets/')) {
      if (!this.deps.assets.serveAsset(path.slice('/assets/'.length), res)) throw new HttpError(404, `no asset ${path}`);
      return;
    }

    const isApi = path.startsWith('/api/');
    const sessionId = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const session = await this.deps.sessions.session(sessionId);
    if (!session || !sessionId) return sendLoginNeeded(res, isApi, sessionId ? 'your dashboard session has ended' : undefined);

    if (!isApi) {
      if (method !== 'GET' || !PAGE.test(path)) throw new HttpError(404, `no page ${path}`);
      return this.deps.assets.serveIndex(res);
    }
    if (method === 'POST') {
      const problem = csrfProblem(req, session.csrf);
      if (problem) throw new HttpError(403, problem);
      return this.post(path, req, res, sessionId);
    }
    if (method !== 'GET') throw new HttpError(405, `${method} is not supported here`);
    return this.get(path, url, res, sessionId, session);
  }

  private async login(url: URL, res: ServerResponse): Promise<void> {
    const token = url.searchParams.get('token') ?? '';
    try {
      await this.deps.sessions.consumeLink(token);
    } catch (err) {
      if (err instanceof LinkRejectedError) return sendLoginNeeded(res, false, err.message.replace(/\. Run .*$/, ''));
      throw err;
    }
    const { id, session } = await this.deps.sessions.createSession();
    this.deps.logger.info('dashboard login');
    // The token leaves the address bar at once: the page the browser ends on has none.
    res.writeHead(303, {
      location: '/',
      'set-cookie': sessionCookie(id, { maxAgeS: (session.expiresAtMs - Date.now()) / 1000, secure: this.deps.secure }),
      'cache-control': 'no-store',
    });
    res.end();
  }

  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.deps.metrics) throw new HttpError(404, 'this control plane exposes no metrics');
    if (!this.deps.metricsOpen && !(await this.mayReadMetrics(req))) {
      res.setHeader('www-authenticate', 'Bearer realm="cluster metrics"');
      throw new HttpError(
        401,
        this.deps.metricsToken
          ? '/metrics on this listener needs `Authorization: Bearer TOKEN` with the token of the control plane\'s --metrics-token-file, or a dashboard session'
          : '/metrics on a dashboard listener off loopback needs a dashboard session, or a bearer token: start the control plane with --metrics-token-file (or scrape its --metrics listener)',
      );
    }
    const body = await this.deps.metrics.render();
    res.writeHead(200, { 'content-type': this.deps.metrics.contentType, 'cache-control': 'no-store' });
    res.end(body);
  }

  /** The scraper shows the bearer token, or the browser a live dashboard session. */
  private async mayReadMetrics(req: IncomingMessage): Promise<boolean> {
    const token = this.deps.metricsToken;
    const shown = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')?.[1];
    // Compared as digests: equal lengths, and no timing clue about the token.
    if (token && shown && timingSafeEqual(sha256(shown), sha256(token))) return true;
    return (await this.deps.sessions.session(cookieValue(req.headers.cookie, SESSION_COOKIE))) !== undefined;
  }

  private async get(path: string, url: URL, res: ServerResponse, sessionId: string, session: Session): Promise<void> {
    const parts = segments(path); // after /api/
    const [first, app, sub] = parts;
    if (parts.length === 1 && first === 'session') return sendJson(res, 200, { csrf: session.csrf, expires_at_ms: session.expiresAtMs });
    if (parts.length === 1 && first === 'apps') return sendJson(res, 200, await this.views.apps());
    if (parts.length === 1 && first === 'agents') return sendJson(res, 200, await this.views.agents());
    if (first === 'apps' && app !== undefined && parts.length === 2) return sendJson(res, 200, await this.views.app(app));
    if (first === 'apps' && app !== undefined && sub === 'releases' && parts.length === 3) return sendJson(res, 200, await this.views.releases(app));
    const sessionAlive = async () => (await this.deps.sessions.session(sessionId)) !== undefined;
    if (first === 'apps' && app !== undefined && sub === 'logs' && parts.length === 3) return this.logStream(app, url, res, sessionAlive);
    if (first === 'events') {
      if (app === 'apps' && parts.length === 2) return this.liveView(res, () => this.shared.compute('apps', this.deps.feed.generation, () => this.views.apps()), sessionAlive);
      if (app === 'agents' && parts.length === 2) return this.liveView(res, () => this.shared.compute('agents', this.deps.feed.generation, () => this.views.agents()), sessionAlive);
      if (app === 'apps' && sub !== undefined && parts.length === 3) {
        await this.views.ps(sub); // an unknown app is a 404 now, not an event later
        return this.liveView(res, () => this.shared.compute(`app/${sub}`, this.deps.feed.generation, () => this.views.app(sub)), sessionAlive);
      }
    }
    throw new HttpError(404, `no API ${path}`);
  }

  private async post(path: string, req: IncomingMessage, res: ServerResponse, sessionId: string): Promise<void> {
    const parts = segments(path);
    const [first, id, action] = parts;
    if (parts.length === 1 && first === 'logout') {
      await this.deps.sessions.endSession(sessionId);
      res.setHeader('set-cookie', sessionCookie('', { maxAgeS: 0, secure: this.deps.secure }));
      return sendJson(res, 200, {});
    }
    if (parts.length !== 3 || id === undefined || action === undefined) throw new HttpError(404, `no API ${path}`);
    const body = await readJsonBody(req);
    let result: unknown;
    if (first === 'apps' && action === 'scale') result = await this.actions.scale(id, body);
    else if (first === 'apps' && action === 'restart') result = await this.actions.restart(id, body);
    else if (first === 'apps' && action === 'rollback') {
      result = await this.actions.rollback(id, body);
      this.views.releasesChanged(id);
    }
    else if (first === 'agents' && action === 'drain') result = await this.actions.drain(id);
    else if (first === 'agents' && action === 'activate') result = await this.actions.activate(id);
    else if (first === 'agents' && action === 'remove') result = await this.actions.remove(id);
    else if (first === 'agents' && action === 'web') result = await this.actions.web(id, body);
    else throw new HttpError(404, `no API ${path}`);
    this.deps.logger.info({ action: `${first}/${action}`, target: id }, 'dashboard action');
    sendJson(res, 200, result);
  }

  /** Opens a stream if the limit allows; the count drops when it closes. */
  private openStream(res: ServerResponse): EventStream {
    if (this.streams >= (this.deps.maxStreams ?? 200)) throw new HttpError(503, 'too many live dashboard pages are open on this replica; close some');
    this.streams++;
    const stream = new EventStream(res);
    stream.onClose(() => this.streams--);
    return stream;
  }

  private liveView(res: ServerResponse, compute: () => Promise<unknown>, sessionAlive: () => Promise<boolean>): void {
    serveLiveView({ stream: this.openStream(res), feed: this.deps.feed, compute, sessionAlive });
  }

  private async logStream(app: string, url: URL, res: ServerResponse, sessionAlive: () => Promise<boolean>): Promise<void> {
    const name = appFromUrl(app);
    const type = url.searchParams.get('type') ?? '';
    const instance = url.searchParams.get('instance') ?? '';
    if (type && !/^[A-Za-z0-9_-]{1,63}$/.test(type)) throw new HttpError(400, `invalid process type \`${type.slice(0, 64)}\``);
    if (instance && !TYPE_OR_INSTANCE.test(instance)) throw new HttpError(400, `invalid instance \`${instance.slice(0, 64)}\`: expected TYPE.N`);
    await this.views.ps(name); // an unknown app is a 404 now
    const stream = this.openStream(res);
    // Like the live views: a log stream must not outlive a logout (or the session's expiry).
    endWithSession(stream, sessionAlive);
    serveLogStream(this.deps.api.Logs, stream, { app: name, type, instance });
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
