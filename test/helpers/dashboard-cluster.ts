/**
 * The set-up the dashboard's browser tests share (test/e2e/dashboard-*.test.ts): a real cluster
 * with its dashboard on a loopback port and an app `shop` (web: a listener, worker: a talker
 * that echoes what the test gives it), a real Chromium, and logging that browser in.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { REPO, TestCluster, type PsInstance } from './test-cluster';
import { freePort } from '../../lib/free-port';
import { launchBrowser, type TestBrowser } from './browser';
import { loginLink } from './dashboard-session';

// A worker that echoes whatever the test drops into its trigger file. The file is moved aside
// before it is printed: a test that writes the next one as soon as it sees the last line must
// never have it removed unread by a slow \`rm\` of the previous one.
const TALKER = `trap 'exit 0' TERM
echo "$CLUSTER_INSTANCE started"
while true; do
  f="$1/$CLUSTER_INSTANCE.say"
  if [ -f "$f" ]; then mv -f "$f" "$f.now"; cat "$f.now"; rm -f "$f.now"; fi
  sleep 0.05
done
`;

// `cluster dashboard` without --print-url opens a browser when there is a display: not here.
delete process.env.DISPLAY;
delete process.env.WAYLAND_DISPLAY;

export interface ShopCluster {
  cluster: TestCluster;
  /** Makes worker.1 print `text`. */
  say: (text: string) => void;
  /** `cluster scale -a shop`, e.g. `web=1 worker=3`. */
  formation: () => Promise<string>;
}

/** A cluster with agents `agents` running shop with web=1 and worker=`workers`, all up. */
export async function startShopCluster(opts: { agents: string[]; workers: number }): Promise<ShopCluster> {
  const http = `127.0.0.1:${await freePort()}`;
  const cluster = await TestCluster.start({ agents: opts.agents.map((id) => ({ id })), controlPlaneArgs: ['--http', http] });
  const triggers = path.join(cluster.dir, 'triggers');
  fs.mkdirSync(triggers);
  const listen = path.join(REPO, 'test', 'fixtures', 'listen.js');
  const dir = cluster.appDir('shop', { Procfile: `web: node ${listen}\nworker: sh talker.sh ${triggers}\n`, 'talker.sh': TALKER });
  await cluster.deployApp('shop', dir);
  await cluster.ok(['scale', 'web=1', `worker=${opts.workers}`, '-a', 'shop', '--wait']);
  return {
    cluster,
    // Written aside and renamed: the talker must never find the file created but still empty.
    say: (text: string) => {
      const file = path.join(triggers, 'worker.1.say');
      fs.writeFileSync(`${file}.tmp`, `${text}\n`);
      fs.renameSync(`${file}.tmp`, file);
    },
    formation: async () => (await cluster.ok(['scale', '-a', 'shop'])).stdout.trim(),
  };
}

/** A fresh Chromium and its first tab. */
export async function openBrowser(): Promise<{ browser: TestBrowser; page: Page }> {
  const browser = await launchBrowser();
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  return { browser, page };
}

/** Logs `page` in through a one-use link; it ends on the apps list. */
export async function logIn(cluster: TestCluster, page: Page): Promise<void> {
  const res = await page.goto(await loginLink(cluster));
  if (res?.status() !== 200) throw new Error(`the login link answered ${res?.status()}`);
  await page.getByRole('link', { name: 'shop' }).waitFor({ timeout: 15_000 });
}

/** The instances of `type` that are not on their way out. */
export const running = (instances: PsInstance[], type: string) => instances.filter((i) => i.type === type && i.state !== 'stopping');
