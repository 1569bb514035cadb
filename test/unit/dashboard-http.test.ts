/** The dashboard's cookie and CSRF rules. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { cookieValue, sessionCookie } from '../../control-plane/http/cookies';
import { csrfProblem } from '../../control-plane/http/csrf';
import { splitHostPort } from '../../control-plane/http/dashboard-server';
import { baseUrl, linkHost } from '../../control-plane/http/certificate';
import { endWithSession, SharedViews } from '../../control-plane/http/live-views';
import type { EventStream } from '../../control-plane/http/sse';
import { waitFor } from '../helpers/wait-for';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('dashboard cookies', () => {
  it('reads one cookie among others, and nothing from a malformed header', () => {
    assert.equal(cookieValue('a=1; cluster_session=abc; b=2', 'cluster_session'), 'abc');
    assert.equal(cookieValue('cluster_sessionx=abc', 'cluster_session'), undefined);
    assert.equal(cookieValue(undefined, 'cluster_session'), undefined);
    assert.equal(cookieValue('x'.repeat(9000), 'cluster_session'), undefined);
  });

  it('writes HttpOnly, SameSite=Strict, and Secure only over TLS', () => {
    const plain = sessionCookie('v', { maxAgeS: 60, secure: false });
    assert.match(plain, /HttpOnly/);
    assert.match(plain, /SameSite=Strict/);
    assert.match(plain, /Max-Age=60/);
    assert.doesNotMatch(plain, /Secure/);
    assert.match(sessionCookie('v', { maxAgeS: 60, secure: true }), /; Secure$/);
  });
});

describe('dashboard CSRF check', () => {
  it('passes the session token from this origin', () => {
    assert.equal(csrfProblem(req({ host: 'h:1', origin: 'http://h:1', 'x-csrf-token': 'tok' }), 'tok'), undefined);
    assert.equal(csrfProblem(req({ host: 'h:1', 'x-csrf-token': 'tok' }), 'tok'), undefined);
  });

  it('passes a page behind a reverse proxy that rewrites Host and says X-Forwarded-Host', () => {
    const proxied = { host: '127.0.0.1:8080', origin: 'https://dash.example.com', 'x-csrf-token': 'tok' };
    assert.equal(csrfProblem(req({ ...proxied, 'x-forwarded-host': 'dash.example.com' }), 'tok'), undefined);
    assert.match(csrfProblem(req(proxied), 'tok')!, /not accepted/);
    assert.match(csrfProblem(req({ ...proxied, 'x-forwarded-host': 'other.example.com' }), 'tok')!, /not accepted/);
  });

  it('refuses a missing, stale or foreign request', () => {
    assert.match(csrfProblem(req({ host: 'h:1' }), 'tok')!, /missing/);
    assert.match(csrfProblem(req({ host: 'h:1', 'x-csrf-token': 'old' }), 'tok')!, /stale/);
    assert.match(csrfProblem(req({ host: 'h:1', 'x-csrf-token': 'tokx' }), 'tok')!, /stale/);
    assert.match(csrfProblem(req({ host: 'h:1', origin: 'http://evil:1', 'x-csrf-token': 'tok' }), 'tok')!, /not accepted/);
    assert.match(csrfProblem(req({ host: 'h:1', origin: 'garbage', 'x-csrf-token': 'tok' }), 'tok')!, /not accepted/);
  });
});

describe('dashboard addresses', () => {
  it('splits HOST:PORT and names a reachable host in links', () => {
    assert.deepEqual(splitHostPort('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: 80 });
    assert.throws(() => splitHostPort('nope'), /HOST:PORT/);
    assert.equal(linkHost('0.0.0.0', '10.0.0.5:7600'), '10.0.0.5');
    assert.equal(linkHost('10.0.0.9', '10.0.0.5:7600'), '10.0.0.9');
    assert.equal(baseUrl(true, '::1', 443), 'https://[::1]:443');
    assert.equal(baseUrl(false, '127.0.0.1', 80), 'http://127.0.0.1:80');
  });
});

describe('dashboard shared views', () => {
  it('computes a view once for streams that ask together, again once it is old', async () => {
    const views = new SharedViews();
    let runs = 0;
    const compute = async () => ++runs;
    const [a, b] = await Promise.all([views.compute('apps', 0, compute), views.compute('apps', 0, compute)]);
    assert.equal(a, 1);
    assert.equal(b, 1);
    assert.equal(await views.compute('agents', 0, compute), 2, 'another view is its own');
    assert.equal(await views.compute('apps', 1, compute), 3, 'a computation from before a change is not reused after it');
    await waitFor('the shared answer to age', async () => (await views.compute('apps', 1, compute)) !== 3, 2_000, 20);
  });
});

describe('dashboard streams and sessions', () => {
  it('ends a stream with `expired` once its session has ended, and checks no more after it closed', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const sent: string[] = [];
    const closers: Array<() => void> = [];
    const stream = {
      closed: false,
      send: (event: string) => sent.push(event) > 0,
      end() {
        this.closed = true;
        for (const c of closers.splice(0)) c();
      },
      onClose: (listener: () => void) => closers.push(listener),
    };
    let alive = true;
    let checks = 0;
    endWithSession(stream as unknown as EventStream, () => {
      checks++;
      return Promise.resolve(alive);
    });
    t.mock.timers.tick(30_000);
    assert.equal(checks, 1);
    return Promise.resolve().then(() => {
      assert.equal(stream.closed, false, 'a live session keeps its stream');
      alive = false; // logged out
      t.mock.timers.tick(30_000);
      return new Promise<void>((resolve) => setImmediate(resolve));
    }).then(() => {
      assert.deepEqual(sent, ['expired']);
      assert.equal(stream.closed, true);
      t.mock.timers.tick(60_000);
      assert.equal(checks, 2, 'no check after the stream closed');
    });
  });
});
