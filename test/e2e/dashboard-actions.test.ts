/**
 * The dashboard's actions in a real Chromium against a real cluster: + / - buttons changing the
 * formation as `scale TYPE+1/-1` does, restarting one instance or a type, a request without the
 * CSRF token refused, a phone-sized screen, the keyboard, draining an agent, rolling back
 * (docs/dashboard.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { logIn, openBrowser, running, startShopCluster } from '../helpers/dashboard-cluster';
import type { TestBrowser } from '../helpers/browser';

describe('dashboard: the process list and its actions', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let formation: () => Promise<string>;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    // Two agents: one to drain. worker=1: the + button takes it to 4.
    ({ cluster, formation } = await startShopCluster({ agents: ['host-a', 'host-b'], workers: 1 }));
    ({ browser, page } = await openBrowser());
    await logIn(cluster, page);
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
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

  it('counts the one-offs an agent runs beside its instances, live', async () => {
    const res = await cluster.cli(['run', '--detach', '-a', 'shop', '--', 'sleep 60']);
    assert.equal(res.code, 0, res.stderr);
    const [, name, host] = /Started (run\.\d+) on (\S+);/.exec(res.stdout) ?? [];
    assert.ok(name && host, res.stdout);
    await page.getByRole('link', { name: 'Agents' }).click();
    const oneOffs = page.locator(`[data-agent="${host}"] .one-offs`);
    let killed: Awaited<ReturnType<typeof cluster.cli>> | undefined;
    try {
      await oneOffs.filter({ hasText: '+ 1 one-off' }).waitFor({ timeout: 15_000 });
    } finally {
      killed = await cluster.cli(['ps:kill', name, '-a', 'shop']);
    }
    assert.equal(killed.code, 0, killed.stderr);
    // The page follows without a reload once the host reports the run gone.
    await oneOffs.waitFor({ state: 'detached', timeout: 15_000 });
  });

  it('removes an agent that is down', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    const row = page.locator('[data-agent="host-b"]');
    await row.waitFor({ timeout: 15_000 });
    await cluster.agents.get('host-b')!.kill('SIGKILL');
    await row.locator('.state-down').waitFor({ timeout: 20_000 });
    page.once('dialog', (d) => d.accept().catch(() => assert.fail('the confirmation dialog could not be accepted')));
    await row.getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached', timeout: 15_000 });
    const { agents } = await cluster.cliJson<{ agents: Array<{ id: string; state: string }> }>(['agents']);
    assert.deepEqual(agents.map((a) => `${a.id}:${a.state}`), ['host-a:ready']);
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
});
