/**
 * The dashboard over TLS: HTTPS with a certificate the cluster CA signed (the CA the CLI's
 * credential trusts), a Secure session cookie, and a link minted through one replica that
 * logs in through another (links and sessions live in etcd).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { TestCluster } from '../helpers/test-cluster';
import { freePort } from '../../lib/free-port';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, ca: string, cookie?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers: cookie ? { cookie } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('dashboard over TLS', { timeout: 120_000 }, () => {
  let cluster: TestCluster;
  let ca: string;
  const http: string[] = [];

  before(async () => {
    http.push(`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`);
    cluster = await TestCluster.start({ controlPlaneArgs: ['--tls'] });
    // Without --http there is no dashboard, and the command says how to get one.
    const none = await cluster.cli(['dashboard', '--print-url']);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /serves no dashboard.*--http/);
    // A second replica with a dashboard of its own; the first gets one too (restarted with --http).
    await cluster.replicas[0]!.daemon.kill('SIGTERM');
    await cluster.startControlPlane(cluster.addresses[0], ['--http', http[0]!]);
    const second = `127.0.0.1:${await freePort()}`;
    await cluster.startControlPlane(second, ['--http', http[1]!]);
    const credentials = JSON.parse(fs.readFileSync(path.join(cluster.dir, 'home', 'credentials.json'), 'utf8')) as { servers: Record<string, { caPem: string }> };
    ca = Object.values(credentials.servers)[0]!.caPem;
  });

  after(async () => {
    await cluster?.stop();
  });

  it('serves HTTPS signed by the cluster CA, sets a Secure cookie, and a link from one replica works on another', async () => {
    const res = await cluster.cli(['dashboard', '--print-url', '--json'], { server: cluster.addresses[0] });
    assert.equal(res.code, 0, res.stderr);
    const link = JSON.parse(res.stdout) as { url: string; caHash: string };
    assert.match(link.url, /^https:\/\/127\.0\.0\.1:\d+\/login\?token=/);
    assert.match(link.caHash, /^sha256:/);
    assert.equal(new URL(link.url).host, http[0]);

    // Used on the other replica's dashboard.
    const elsewhere = new URL(link.url);
    elsewhere.host = http[1]!;
    const login = await get(elsewhere.href, ca);
    assert.equal(login.status, 303, login.body);
    assert.equal(login.headers.location, '/');
    const setCookie = String(login.headers['set-cookie']);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.match(setCookie, /Secure/);
    const cookie = setCookie.split(';')[0]!;

    // The session works on both replicas; the link works no more on either.
    for (const host of http) {
      const apps = await get(`https://${host}/api/apps`, ca, cookie);
      assert.equal(apps.status, 200, apps.body);
      const again = await get(`https://${host}/login?token=${new URL(link.url).searchParams.get('token')}`, ca);
      assert.equal(again.status, 401);
    }
    // A client that does not trust the cluster CA is refused by TLS itself.
    await assert.rejects(get(`https://${http[0]}/`, ''), /certificate|self.signed|unable/i);
  });
});
