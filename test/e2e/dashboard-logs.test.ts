/**
 * The dashboard's log pane in a real Chromium against a real cluster: a printed line shown
 * within 2 s, pausing when scrolled up, filtering by instance, and no line twice after the
 * stream reconnects (docs/dashboard.md).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { TestCluster } from '../helpers/test-cluster';
import { waitFor } from '../helpers/wait-for';
import { tcpProxy } from '../helpers/tcp-proxy';
import { logIn, openBrowser, startShopCluster } from '../helpers/dashboard-cluster';
import type { TestBrowser } from '../helpers/browser';

describe('dashboard: the log pane', { timeout: 300_000 }, () => {
  let cluster: TestCluster;
  let say: (text: string) => void;
  let browser: TestBrowser;
  let page: Page;

  before(async () => {
    // worker=2: worker.2's logs to filter on.
    ({ cluster, say } = await startShopCluster({ agents: ['host-a'], workers: 2 }));
    ({ browser, page } = await openBrowser());
    await logIn(cluster, page);
    await page.goto(new URL('/apps/shop', page.url()).href);
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
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
});
