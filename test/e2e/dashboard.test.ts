/**
 * The web dashboard in a real Chromium against a real cluster: login through a one-use link,
 * + / - buttons changing the formation as `scale TYPE+1/-1` does, restarting one instance,
 * live log lines, refused links and requests without the CSRF token; then the JSON API's
 * answers to bad input (docs/dashboard.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { REPO, TestCluster, type PsInstance } from '../helpers/test-cluster';
import { freePort } from '../../lib/free-port';
import { waitFor } from '../helpers/wait-for';
import { launchBrowser } from '../helpers/browser';
import { apiSession, loginLink, request, type ApiSession } from '../helpers/dashboard-session';

// A worker that echoes whatever the test drops into its trigger file.
const TALKER = `trap 'exit 0' TERM
echo "$CLUSTER_INSTANCE started"
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ]; then cat "$f"; rm -f "$f"; fi
  sleep 0.05
done
`;

// `cluster dashboard` without --print-url opens a browser when there is a display: not here.
delete process.env.DISPLAY;
delete process.env.WAYLAND_DISPLAY;

/** A loopback TCP proxy to `port` whose open connections `cut()` destroys. */
async function tcpProxy(port: number): Promise<{ port: number; accepted(): number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    cut,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      cut();
    }),
  };
}

const running = (instances: PsInstance[], type: string) => instances.filter((i) => i.type === type && i.state !== 'stopping');

describe('dashboard', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let triggers: string;
  // Written aside and renamed: the talker must never find the file created but still empty.
  const say = (text: string) => {
    const file = path.join(triggers, 'worker.1.say');
    fs.writeFileSync(`${file}.tmp`, `${text}\n`);
    fs.renameSync(`${file}.tmp`, file);
  };
  let browser: { context: BrowserContext; close: () => Promise<void> };
  let page: Page;

  const formation = async () => (await cluster.ok(['scale', '-a', 'shop'])).stdout.trim();

  before(async () => {
    const http = `127.0.0.1:${await freePort()}`;
    cluster = await TestCluster.start({ agents: [{ id: 'host-a' }, { id: 'host-b' }], controlPlaneArgs: ['--http', http] });
    triggers = path.join(cluster.dir, 'triggers');
    fs.mkdirSync(triggers);
    const listen = path.join(REPO, 'test', 'fixtures', 'listen.js');
    const dir = cluster.appDir('shop', { Procfile: `web: node ${listen}\nworker: sh talker.sh ${triggers}\n`, 'talker.sh': TALKER });
    await cluster.deployApp('shop', dir);
    await cluster.ok(['scale', 'web=1', 'worker=1', '-a', 'shop', '--wait']);
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
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

  it('scales with + and - as scale TYPE+1 / TYPE-1 does, and the count follows live', async () => {
    await page.getByRole('link', { name: 'shop' }).click();
    const plus = page.getByRole('button', { name: 'Scale worker up by one' });
    await plus.waitFor({ timeout: 15_000 });
    const desired = page.locator('[data-type="worker"] [data-role="desired"]');
    await plus.click();
    await plus.click();
    await plus.click();
    await cluster.waitForPs('shop', 'ps to show 3 more workers up', (ps) => running(ps, 'worker').length === 4 && running(ps, 'worker').every((i) => i.state === 'up'), 30_000);
    assert.equal(await formation(), 'web=1 worker=4');
    await waitFor('the page to show 4 workers desired and up', async () =>
      (await desired.textContent()) === '4' && (await page.locator('[data-type="worker"] [data-role="up"]').textContent()) === '4 up', 10_000);

    await page.getByRole('button', { name: 'Scale worker down by one' }).click();
    await cluster.waitForPs('shop', 'ps to show one worker fewer', (ps) => running(ps, 'worker').length === 3, 30_000);
    assert.equal(await formation(), 'web=1 worker=3');
    await waitFor('the page to show 3 workers desired', async () => (await desired.textContent()) === '3', 10_000);
  });

  it('restarts one instance: its pid changes in ps and on the page', async () => {
    const before = (await cluster.ps('shop')).find((i) => i.name === 'worker.2')!;
    assert.ok(before.pid);
    const pidCell = page.locator('[data-instance="worker.2"] [data-role="pid"]');
    await waitFor('the page to show worker.2 pid', async () => (await pidCell.textContent()) === String(before.pid), 10_000);
    await page.getByRole('button', { name: 'Restart worker.2' }).click();
    const after = await cluster.waitForPs('shop', 'worker.2 to run with a new pid', (ps) => {
      const w = ps.find((i) => i.name === 'worker.2');
      return !!w && w.state === 'up' && !!w.pid && w.pid !== before.pid;
    }, 30_000);
    const pid = after.find((i) => i.name === 'worker.2')!.pid;
    await waitFor('the page to show the new pid', async () => (await pidCell.textContent()) === String(pid), 10_000);
    // The other instances were not restarted.
    const worker1 = after.find((i) => i.name === 'worker.1')!;
    assert.equal(worker1.restarts, 0);
  });

  it('restarts every instance of a type, and only those', async () => {
    const before = await cluster.ps('shop');
    const pids = new Map(before.map((i) => [i.name, i.pid]));
    await page.getByRole('button', { name: 'Restart every worker instance' }).click();
    await cluster.waitForPs('shop', 'every worker to run with a new pid', (ps) =>
      running(ps, 'worker').length === 3 && running(ps, 'worker').every((i) => i.state === 'up' && !!i.pid && i.pid !== pids.get(i.name)), 60_000);
    const web = (await cluster.ps('shop')).find((i) => i.name === 'web.1')!;
    assert.equal(web.pid, pids.get('web.1'), 'web was not restarted');
  });

  it('shows a line an instance prints in the log pane within 2 s', async () => {
    const pane = page.locator('.log-lines');
    await pane.getByText('worker.1 started').first().waitFor({ timeout: 15_000 });
    const marker = `hello-from-worker-1-${Date.now()}`;
    const start = Date.now();
    say(marker);
    await pane.getByText(marker).waitFor({ timeout: 2_000 });
    assert.ok(Date.now() - start <= 2_000, `took ${Date.now() - start} ms`);
  });

  it('pauses the log pane when scrolled up, counts new lines, and follows again', async () => {
    const pane = page.locator('.log-lines');
    const filler = Array.from({ length: 60 }, (_, i) => `filler line ${i + 1}`).join('\n');
    say(filler);
    await pane.getByText('filler line 60', { exact: true }).waitFor({ timeout: 10_000 });
    const atBottom = () => pane.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 8);
    await waitFor('the pane to follow the newest line', atBottom, 5_000);
    await pane.evaluate((el) => {
      el.scrollTop = 0;
      el.dispatchEvent(new Event('scroll'));
    });
    await page.getByText('Paused', { exact: true }).waitFor({ timeout: 5_000 });
    say('while paused');
    await page.getByText('Paused: 1 new line', { exact: true }).waitFor({ timeout: 5_000 });
    assert.equal(await pane.evaluate((el) => el.scrollTop), 0, 'a paused pane does not scroll');
    await page.getByRole('button', { name: 'Follow' }).click();
    await waitFor('the pane to be at the newest line again', atBottom, 5_000);
    await page.getByText('Following', { exact: true }).waitFor({ timeout: 5_000 });
  });

  it('filters the log pane by instance', async () => {
    await page.getByLabel('Which logs to show').selectOption('instance:worker.2');
    const pane = page.locator('.log-lines');
    // worker.2's history, and none of worker.1's lines (which the pane showed before).
    await waitFor('the pane to show worker.2 only', async () =>
      (await pane.getByText('worker.2 started').count()) > 0 && (await pane.getByText('filler line 1', { exact: true }).count()) === 0, 10_000);
    assert.equal(await pane.locator('.who', { hasText: 'worker.1' }).count(), 0);
    await page.getByLabel('Which logs to show').selectOption('');
  });

  it('shows no line twice after its stream reconnects (the connection dropped) and goes on with new lines', async () => {
    // The page through a TCP proxy whose connections the test cuts, as a network blip or an
    // idle-timeout of a proxy would: the browser's EventSource reconnects by itself (2 s retry)
    // and the new stream starts with the last 200 lines, which the pane shows already.
    const proxy = await tcpProxy(Number(new URL(page.url()).port));
    const tab = await browser.context.newPage();
    try {
      await tab.goto(`http://127.0.0.1:${proxy.port}/apps/shop`);
      const pane = tab.locator('.log-lines');
      const before = `before-the-drop-${Date.now()}`;
      say(before);
      await pane.getByText(before, { exact: true }).waitFor({ timeout: 10_000 });
      const connections = proxy.accepted();
      proxy.cut();
      const afterwards = `after-the-drop-${Date.now()}`;
      say(afterwards);
      await pane.getByText(afterwards, { exact: true }).waitFor({ timeout: 20_000 });
      assert.ok(proxy.accepted() > connections, 'the page reconnected');
      assert.equal(await pane.getByText(before, { exact: true }).count(), 1, 'the line from before the drop, once');
      const rows = await pane.locator('.line').allTextContents();
      const twice = rows.filter((row, i) => rows.indexOf(row) !== i);
      assert.deepEqual(twice, [], `${rows.length} lines, repeated: ${twice.slice(0, 5).join(' | ')}`);
    } finally {
      await tab.close();
      await proxy.close();
    }
  });

  it('refuses a state-changing request without the CSRF token, and changes nothing', async () => {
    const status = await page.evaluate(async () => {
      const res = await fetch('/api/apps/shop/scale', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'worker', change: 1 }) });
      return { status: res.status, body: (await res.json()) as { error: string } };
    });
    assert.equal(status.status, 403);
    assert.match(status.body.error, /x-csrf-token/);
    assert.equal(await formation(), 'web=1 worker=3');
  });

  it('is usable on a phone-sized screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    const plus = page.getByRole('button', { name: 'Scale web up by one' });
    const box = await plus.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `+ is on screen: ${JSON.stringify(box)}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling (${overflow} px too wide)`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('is usable by keyboard: Tab reaches + and Enter scales', async () => {
    await page.goto(new URL('/apps/shop', page.url()).href);
    await page.getByRole('button', { name: 'Scale web up by one' }).waitFor({ timeout: 15_000 });
    let focused = '';
    for (let i = 0; i < 40 && focused !== 'Scale web up by one'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
    }
    assert.equal(focused, 'Scale web up by one');
    await page.keyboard.press('Enter');
    await waitFor('web=2', async () => (await formation()) === 'web=2 worker=3', 10_000);
    await page.getByRole('button', { name: 'Scale web down by one' }).press('Enter');
    await waitFor('web=1 again', async () => (await formation()) === 'web=1 worker=3', 10_000);
  });

  it('shows agents and drains and activates one', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    const row = page.locator('[data-agent="host-b"]');
    await row.waitFor({ timeout: 15_000 });
    page.once('dialog', (d) => d.accept().catch(() => assert.fail('the confirmation dialog could not be accepted')));
    await row.getByRole('button', { name: 'Drain' }).click();
    await waitFor('cluster agents to show host-b draining', async () =>
      (await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents'])).agents.find((a) => a.id === 'host-b')?.state === 'draining', 15_000);
    await row.getByRole('button', { name: 'Activate' }).click();
    await waitFor('host-b ready again', async () =>
      (await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents'])).agents.find((a) => a.id === 'host-b')?.state === 'ready', 15_000);
    await row.getByRole('switch', { name: 'host-b serves web' }).click();
    await waitFor('host-b web off', async () =>
      (await cluster.cliJson<{ agents: Array<{ id: string; web: string | boolean }> }>(['agents'])).agents.find((a) => a.id === 'host-b')?.web !== 'on', 15_000);
    await row.getByRole('switch', { name: 'host-b serves web' }).click();
  });

  it('rolls back to an earlier release, and the page shows the new current one', async () => {
    await cluster.ok(['config:set', 'GREETING=hi', '-a', 'shop']);
    await page.getByRole('link', { name: 'Apps' }).click();
    await page.getByRole('link', { name: 'shop' }).click();
    const rollback = page.getByRole('button', { name: 'Roll back to v1' });
    await rollback.waitFor({ timeout: 15_000 });
    page.once('dialog', (d) => d.accept().catch(() => assert.fail('the confirmation dialog could not be accepted')));
    await rollback.click();
    await waitFor('release v3, a rollback to v1', async () => {
      const { releases } = await cluster.cliJson<{ releases: Array<{ version: number; description: string }> }>(['releases', '-a', 'shop']);
      return releases[0]?.version === 3 && releases[0].description === 'Rollback to v1';
    }, 15_000);
    await page.locator('[data-release="3"] .current').waitFor({ timeout: 10_000 });
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'shop v3');
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
      const bad = await request(s, 'GET', '/api/apps/..%2F..%2Fetc');
      assert.equal(bad.status, 404);
      const scale = await request(s, 'POST', '/api/apps/nosuch/scale', { type: 'web', change: 1 });
      assert.equal(scale.status, 404);
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
