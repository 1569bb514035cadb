/**
 * The dashboard's login and sessions in a real Chromium against a real cluster: a one-use link
 * that leaves no token in the address bar, reused and expired links refused, an unknown app
 * named on its page, logging out; then the JSON API's answers to bad input, stale CSRF tokens and
 * requests without a session, `cluster dashboard` itself and /metrics (docs/dashboard.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { apiSession, loginLink, request, type ApiSession } from '../helpers/dashboard-session';
import { openBrowser, startShopCluster } from '../helpers/dashboard-cluster';

describe('dashboard: login, sessions and the JSON API', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let formation: () => Promise<string>;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    // worker=3: the formation the API tests below find unchanged.
    ({ cluster, formation } = await startShopCluster({ agents: ['host-a'], workers: 3 }));
    ({ browser, page } = await openBrowser());
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('logs in through a one-use link that leaves no token in the address bar', async () => {
    const link = await loginLink(cluster);
    const res = await page.goto(link);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.ok(!page.url().includes('token'), page.url());
    await page.getByRole('link', { name: 'shop' }).waitFor({ timeout: 15_000 });
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'cluster_session');
    assert.ok(cookie, 'a session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.ok(!(await page.content()).includes(cookie.value), 'the session never appears in the page');

    // The same link again, in another browser: refused.
    const other = await launchBrowser();
    try {
      const again = await other.context.newPage();
      const reused = await again.goto(link);
      assert.equal(reused?.status(), 401);
      assert.match(await again.textContent('body') ?? '', /not valid[\s\S]*cluster dashboard/);
      const api = await again.goto(new URL('/api/apps', link).href);
      assert.equal(api?.status(), 401);
    } finally {
      await other.close();
    }
  });

  it('refuses an expired link', async () => {
    const link = await loginLink(cluster, '1s');
    const expiresBy = Date.now() + 1_200;
    await waitFor('the 1 s link to expire', () => Date.now() > expiresBy, 5_000, 100);
    const other = await launchBrowser();
    try {
      const p = await other.context.newPage();
      const res = await p.goto(link);
      assert.equal(res?.status(), 401);
      assert.match(await p.textContent('body') ?? '', /not valid/);
    } finally {
      await other.close();
    }
  });

  it('names an unknown app in the URL on its page', async () => {
    await page.goto(new URL('/apps/nosuch', page.url()).href);
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    assert.match(await alert.textContent() ?? '', /nosuch/);
    await page.goto(new URL('/', page.url()).href);
  });

  it('logs out: the session is gone', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor({ timeout: 10_000 });
    const res = await page.goto(new URL('/apps/shop', page.url()).href);
    assert.equal(res?.status(), 401);
    assert.match(await page.textContent('body') ?? '', /cluster dashboard/);
  });

  describe('JSON API, bad input', () => {
    let s: ApiSession;
    before(async () => {
      s = await apiSession(cluster);
    });

    it('an unknown app in a URL: 404 naming it', async () => {
      for (const path of ['/api/apps/nosuch', '/api/events/apps/nosuch', '/api/apps/nosuch/logs', '/api/apps/nosuch/releases']) {
        const res = await request(s, 'GET', path);
        assert.equal(res.status, 404, path);
        assert.match(res.body.error ?? '', /nosuch/, path);
      }
      const scale = await request(s, 'POST', '/api/apps/nosuch/scale', { type: 'web', change: 1 });
      assert.equal(scale.status, 404);
    });

    it('a name no app or agent can have in a URL: 400 saying what is wrong with it', async () => {
      for (const path of ['/api/apps/..%2F..%2Fetc', '/api/apps/Shop', '/api/events/apps/Shop', '/api/apps/Shop/logs', '/api/apps/Shop/releases']) {
        const res = await request(s, 'GET', path);
        assert.equal(res.status, 400, path);
        assert.match(res.body.error ?? '', /invalid app name .*lowercase letters/, path);
      }
      const scale = await request(s, 'POST', '/api/apps/Shop/scale', { type: 'web', change: 1 });
      assert.equal(scale.status, 400);
      const drain = await request(s, 'POST', `/api/agents/${encodeURIComponent('no such')}/drain`, {});
      assert.equal(drain.status, 400);
      assert.match(drain.body.error ?? '', /invalid agent id/);
      assert.equal(await formation(), 'web=1 worker=3');
    });

    it('scale with a negative, huge or malformed count, or an unknown type: 400, nothing changed', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ type: 'worker', count: -1 }, /count/],
        [{ type: 'worker', count: 1e9 }, /count/],
        [{ type: 'worker', change: 100000 }, /change/],
        [{ type: 'worker', change: -10 }, /below 0/],
        [{ type: 'worker', change: 1.5 }, /whole number/],
        [{ type: 'worker', change: '1' }, /whole number/],
        [{ type: 'worker', change: 0 }, /not be 0/],
        [{ type: 'worker' }, /either/],
        [{ type: 'worker', change: 1, count: 2 }, /either/],
        [{ type: 'nosuch', change: 1 }, /nosuch.*not in release/],
        [{ type: 'bad type!', change: 1 }, /process type name/],
      ];
      for (const [body, error] of cases) {
        const res = await request(s, 'POST', '/api/apps/shop/scale', body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.match(res.body.error ?? '', error, JSON.stringify(body));
      }
      const overLimit = await request(s, 'POST', '/api/apps/shop/scale', { type: 'worker', count: 1001 });
      assert.equal(overLimit.status, 400);
      const notJson = await fetch(`${s.base}/api/apps/shop/scale`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: '{nope' });
      assert.equal(notJson.status, 400);
      const big = await fetch(`${s.base}/api/apps/shop/scale`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'x'.repeat(20_000) }) });
      assert.equal(big.status, 413);
      const restart = await request(s, 'POST', '/api/apps/shop/restart', { target: 'nosuch.1' });
      assert.equal(restart.status, 400);
      // No `target` is no "everything" ("" is): refused, as rollback without `version` is.
      const restartAll = await request(s, 'POST', '/api/apps/shop/restart', {});
      assert.equal(restartAll.status, 400);
      assert.match(restartAll.body.error ?? '', /`target` is missing/);
      const rollback = await request(s, 'POST', '/api/apps/shop/rollback', { version: 99 });
      assert.equal(rollback.status, 404);
      assert.equal(await formation(), 'web=1 worker=3');
    });

    it('a stale CSRF token (another session\'s) or none: 403, nothing changed', async () => {
      const other = await apiSession(cluster);
      const stale = await request(s, 'POST', '/api/apps/shop/scale', { type: 'worker', change: 1 }, { csrf: other.csrf });
      assert.equal(stale.status, 403);
      assert.match(stale.body.error ?? '', /stale/);
      const none = await request(s, 'POST', '/api/apps/shop/scale', { type: 'worker', change: 1 }, { csrf: null });
      assert.equal(none.status, 403);
      const foreign = await fetch(`${s.base}/api/apps/shop/scale`, { method: 'POST', headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/json', origin: 'http://evil.example' }, body: JSON.stringify({ type: 'worker', change: 1 }) });
      assert.equal(foreign.status, 403);
      assert.equal(await formation(), 'web=1 worker=3');
      // The right token works.
      const ok = await request(s, 'POST', '/api/apps/shop/scale', { type: 'worker', change: 1 });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(await formation(), 'web=1 worker=4');
      assert.equal((await request(s, 'POST', '/api/apps/shop/scale', { type: 'worker', change: -1 })).status, 200);
    });

    it('without a session: 401 saying to run cluster dashboard; a logged-out session is gone', async () => {
      const page = await fetch(`${s.base}/apps/shop`);
      assert.equal(page.status, 401);
      assert.match(await page.text(), /cluster dashboard/);
      const api = await fetch(`${s.base}/api/apps`);
      assert.equal(api.status, 401);
      assert.match(((await api.json()) as { error: string }).error, /cluster dashboard/);
      const forged = await request(s, 'GET', '/api/apps', undefined, { cookie: 'cluster_session=' + 'A'.repeat(43) });
      assert.equal(forged.status, 401);
      const other = await apiSession(cluster);
      assert.equal((await request(other, 'POST', '/api/logout', {})).status, 200);
      assert.equal((await request(other, 'GET', '/api/apps')).status, 401);
      assert.equal((await request(s, 'GET', '/api/apps')).status, 200);
    });

    it('cluster dashboard: prints the link where there is no browser, refuses a bad --ttl', async () => {
      const res = await cluster.cli(['dashboard']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout.trim(), /^http:\/\/127\.0\.0\.1:\d+\/login\?token=[A-Za-z0-9_-]{43}$/);
      assert.match(res.stderr, /works once/);
      for (const ttl of ['20m', '0s', 'soon']) {
        const bad = await cluster.cli(['dashboard', '--print-url', '--ttl', ttl]);
        assert.equal(bad.code, 1, `--ttl ${ttl}`);
        assert.match(bad.stderr, /--ttl/);
      }
    });

    it("serves the control plane's Prometheus metrics at /metrics, without a session", async () => {
      const res = await fetch(`${s.base}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(await res.text(), /^# TYPE cluster_instances_desired gauge$/m);
    });
  });
});
