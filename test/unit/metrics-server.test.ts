import assert from 'node:assert/strict';
import * as https from 'node:https';
import * as os from 'node:os';
import { after, describe, it } from 'node:test';
import 'reflect-metadata';
import { createCA, issueWithNewKey } from '../../lib/pki';
import { parseMetricsListen, startMetricsServer, type MetricsServer } from '../../lib/metrics-server';
import { createLogger } from '../../lib/log';

const logger = createLogger('test');
const source = { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'up 1\n' };
const servers: MetricsServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

/** An address of this machine that is not loopback, if it has one. */
const external = Object.values(os.networkInterfaces()).flat().find((a) => a && !a.internal && a.family === 'IPv4')?.address;

function get(url: string, opts: https.RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...opts, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('--metrics HOST:PORT', () => {
  it('is validated with a message naming the problem', () => {
    assert.deepEqual(parseMetricsListen('127.0.0.1:9101'), { host: '127.0.0.1', port: 9101 });
    assert.deepEqual(parseMetricsListen('[::1]:0'), { host: '::1', port: 0 });
    assert.throws(() => parseMetricsListen('9101'), /give HOST:PORT/);
    assert.throws(() => parseMetricsListen('host:99999'), /give HOST:PORT/);
  });

  it('serves /metrics over plain HTTP on loopback, 404 elsewhere, 405 for a POST', async () => {
    const server = await startMetricsServer({ listen: '127.0.0.1:0', source, logger });
    servers.push(server);
    assert.equal(server.scheme, 'http');
    const ok = await fetch(`http://${server.address}/metrics`);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), source.contentType);
    assert.equal(await ok.text(), 'up 1\n');
    assert.equal((await fetch(`http://${server.address}/other`)).status, 404);
    assert.equal((await fetch(`http://${server.address}/metrics`, { method: 'POST' })).status, 405);
  });

  it('refuses an address off loopback without a certificate', async () => {
    await assert.rejects(startMetricsServer({ listen: '0.0.0.0:0', source, logger }), /HTTPS with the cluster certificate/);
  });

  it('off loopback: HTTPS with the cluster certificate, and only for clients of the cluster CA', { skip: external === undefined && 'this machine has no address off loopback' }, async () => {
    const ca = await createCA();
    const agent = await issueWithNewKey(ca, { identity: { kind: 'agent', name: 'a1' }, days: 1, dnsNames: ['a1.agents.cluster'] });
    const operator = await issueWithNewKey(ca, { identity: { kind: 'operator', name: 'ops' }, days: 1 });
    const server = await startMetricsServer({ listen: `${external}:0`, source, logger, tls: () => ({ caPem: ca.certPem, ...agent }) });
    servers.push(server);
    assert.equal(server.scheme, 'https');
    const url = `https://${server.address}/metrics`;
    const res = await get(url, { ca: ca.certPem, cert: operator.certPem, key: operator.keyPem, servername: 'a1.agents.cluster' });
    assert.deepEqual(res, { status: 200, body: 'up 1\n' });
    await assert.rejects(get(url, { ca: ca.certPem, servername: 'a1.agents.cluster' }), 'a client without a certificate is refused');
    const stranger = await createCA('another CA');
    const strangerCert = await issueWithNewKey(stranger, { identity: { kind: 'operator', name: 'x' }, days: 1 });
    await assert.rejects(get(url, { ca: ca.certPem, cert: strangerCert.certPem, key: strangerCert.keyPem, servername: 'a1.agents.cluster' }), 'a certificate of another CA is refused');
  });
});
