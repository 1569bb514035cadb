import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AgentMetrics } from '../../agent/metrics/agent-metrics';
import { ControlPlaneMetrics } from '../../control-plane/metrics/control-plane-metrics';
import { errorKind, etcdMethodName } from '../../control-plane/etcd/instrument';
import { createEtcdClient } from '../../control-plane/etcd/client';
import { codeName, splitPath } from '../../control-plane/metrics/grpc-instrument';
import { find, parseScrape, typeOf, valueOf } from '../helpers/prometheus-text';

/** Label names that would make a series per process or per moment. */
const UNBOUNDED = ['pid', 'time', 'timestamp', 'started_at'];

function assertBoundedLabels(text: string): void {
  const scrape = parseScrape(text);
  for (const s of scrape.series) for (const label of Object.keys(s.labels)) assert.ok(!UNBOUNDED.includes(label), `${s.name} has label ${label}`);
  for (const [name, f] of scrape.families) if (f.type === 'COUNTER') assert.match(name, /_total$/, `counter ${name} ends in _total`);
}

describe('agent metrics', () => {
  it('renders instances, events, log counts and usage in the text format with bounded labels', async () => {
    const metrics = new AgentMetrics({
      instances: () => [
        { app: 'shop', instance: 'web.1', type: 'web', state: 'up', pid: 10 },
        { app: 'shop', instance: 'web.2', type: 'web', state: 'up', pid: 11 },
        { app: 'shop', instance: 'worker.1', type: 'worker', state: 'crashed', pid: 0 },
      ],
      usage: () => [{ app: 'shop', instance: 'web.1', type: 'web', pid: 10, cpuSeconds: 12.5, rssBytes: 50_000_000, cpuPercent: 3, sampledAtMs: 1 }],
      logStats: () => ({ lines: 1234, diskDroppedLines: 5, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 99_000 }),
      lastScanMs: () => 4,
    });
    metrics.restarted('shop', 'worker');
    metrics.processEnded('shop', 'worker', 'exit_code');
    metrics.processEnded('shop', 'worker', 'exit_code');
    metrics.processEnded('shop', 'web', 'stopped');
    metrics.spawnTime(0.004);
    const text = await metrics.render();
    assert.match(metrics.contentType, /^text\/plain; version=0\.0\.4/);
    const f = parseScrape(text);
    assert.equal(typeOf(f, 'cluster_agent_instances'), 'GAUGE');
    assert.equal(valueOf(f, 'cluster_agent_instances', { app: 'shop', type: 'web', state: 'up' }), 2);
    assert.equal(valueOf(f, 'cluster_agent_instances', { app: 'shop', type: 'worker', state: 'crashed' }), 1);
    assert.equal(typeOf(f, 'cluster_agent_instance_restarts_total'), 'COUNTER');
    assert.equal(valueOf(f, 'cluster_agent_instance_restarts_total', { app: 'shop', type: 'worker' }), 1);
    assert.equal(valueOf(f, 'cluster_agent_instance_exits_total', { app: 'shop', type: 'worker', reason: 'exit_code' }), 2);
    assert.equal(valueOf(f, 'cluster_agent_instance_exits_total', { app: 'shop', type: 'web', reason: 'stopped' }), 1);
    assert.equal(typeOf(f, 'cluster_agent_spawn_duration_seconds'), 'HISTOGRAM');
    assert.equal(valueOf(f, 'cluster_agent_spawn_duration_seconds_count'), 1);
    assert.equal(valueOf(f, 'cluster_agent_spawn_duration_seconds_bucket', { le: '0.005' }), 1);
    assert.equal(valueOf(f, 'cluster_agent_spawn_duration_seconds_bucket', { le: '0.0025' }), 0);
    assert.equal(valueOf(f, 'cluster_agent_log_lines_captured_total'), 1234);
    assert.equal(valueOf(f, 'cluster_agent_log_lines_dropped_total'), 5);
    assert.equal(valueOf(f, 'cluster_agent_log_disk_bytes'), 99_000);
    assert.equal(typeOf(f, 'cluster_agent_instance_cpu_seconds_total'), 'COUNTER');
    assert.equal(valueOf(f, 'cluster_agent_instance_cpu_seconds_total', { instance: 'web.1' }), 12.5);
    assert.equal(valueOf(f, 'cluster_agent_instance_memory_bytes', { app: 'shop', type: 'web', instance: 'web.1' }), 50_000_000);
    assert.equal(valueOf(f, 'cluster_agent_usage_scan_duration_seconds'), 0.004);
    assert.equal(typeOf(f, 'cluster_agent_process_resident_memory_bytes'), 'GAUGE', "the agent's own process metrics");
    assertBoundedLabels(text);
  });

  it('drops the series of an instance that is gone at the next scrape', async () => {
    let usage = [{ app: 'shop', instance: 'web.1', type: 'web', pid: 10, cpuSeconds: 1, rssBytes: 1, sampledAtMs: 1 }];
    const metrics = new AgentMetrics({ instances: () => [], usage: () => usage, logStats: () => ({ lines: 0, diskDroppedLines: 0, fsErrors: 0, filesDeleted: 0, bytesOnDisk: 0 }), lastScanMs: () => 0 });
    assert.equal(find(parseScrape(await metrics.render()), 'cluster_agent_instance_memory_bytes').length, 1);
    usage = [];
    assert.equal(find(parseScrape(await metrics.render()), 'cluster_agent_instance_memory_bytes').length, 0);
  });
});

describe('control-plane metrics', () => {
  it('renders scheduler, etcd, gRPC and log-stream metrics (cluster gauges empty until attached)', async () => {
    const metrics = new ControlPlaneMetrics();
    metrics.round(0.02, 7);
    metrics.request('KV.Range', 0.002, undefined);
    metrics.request('KV.Txn', 4, 'GRPCDeadlineExceededError');
    metrics.call('cluster.api.ClusterApi', 'Ps', 'OK', 0.01);
    metrics.call('cluster.api.ClusterApi', 'Ps', 'NOT_FOUND', 0.001);
    metrics.streamOpened();
    metrics.streamOpened();
    metrics.streamClosed();
    const text = await metrics.render();
    const f = parseScrape(text);
    assert.equal(valueOf(f, 'cluster_scheduler_round_duration_seconds_count'), 1);
    assert.equal(valueOf(f, 'cluster_scheduler_plan_changes_sum'), 7);
    assert.equal(typeOf(f, 'cluster_etcd_request_duration_seconds'), 'HISTOGRAM');
    assert.equal(valueOf(f, 'cluster_etcd_request_duration_seconds_count', { method: 'KV.Range' }), 1);
    assert.equal(valueOf(f, 'cluster_etcd_request_duration_seconds_bucket', { method: 'KV.Txn', le: '2.5' }), 0);
    assert.equal(valueOf(f, 'cluster_etcd_request_duration_seconds_bucket', { method: 'KV.Txn', le: '5' }), 1);
    assert.equal(valueOf(f, 'cluster_etcd_request_errors_total', { method: 'KV.Txn', error: 'GRPCDeadlineExceededError' }), 1);
    assert.equal(valueOf(f, 'cluster_etcd_request_errors_total', { method: 'KV.Range' }), undefined);
    assert.equal(valueOf(f, 'cluster_grpc_requests_total', { method: 'Ps', code: 'NOT_FOUND' }), 1);
    assert.equal(valueOf(f, 'cluster_grpc_request_duration_seconds_count', { service: 'cluster.api.ClusterApi', method: 'Ps' }), 2);
    assert.equal(valueOf(f, 'cluster_log_streams_open'), 1);
    assert.equal(valueOf(f, 'cluster_leader'), 0);
    assert.equal(find(f, 'cluster_instances').length, 0);
    assertBoundedLabels(text);
  });
});

describe('etcd request instrumentation', () => {
  it("times each request of a real etcd3 client under etcd's method name, and classes its error", async () => {
    const seen: Array<[string, string | undefined]> = [];
    const client = createEtcdClient(['http://127.0.0.1:1'], { callDeadlineMs: 300, dialTimeoutMs: 300, observer: { request: (m, s, e) => { assert.ok(s >= 0); seen.push([m, e]); } } });
    try {
      await assert.rejects(client.get('k').string());
      await assert.rejects(client.put('k').value('v').exec());
    } finally {
      client.close();
    }
    assert.deepEqual(seen.map(([m]) => m), ['KV.Range', 'KV.Put']);
    for (const [, error] of seen) assert.match(error ?? '', /^GRPC[A-Za-z]*Error$/);
  });

  it('names methods and errors with bounded names', () => {
    assert.equal(etcdMethodName('Lease', 'leaseGrant'), 'Lease.LeaseGrant');
    assert.equal(etcdMethodName('KV', 'x y'), 'KV.unknown');
    class GRPCUnavailableError extends Error {}
    assert.equal(errorKind(new GRPCUnavailableError('x')), 'GRPCUnavailableError');
    assert.equal(errorKind(new TypeError('x')), 'other');
    assert.equal(errorKind('a string'), 'other');
  });
});

describe('gRPC call instrumentation', () => {
  it('splits method paths and names status codes', () => {
    assert.deepEqual(splitPath('/cluster.api.ClusterApi/Ps'), { service: 'cluster.api.ClusterApi', method: 'Ps' });
    assert.deepEqual(splitPath('garbage'), { service: 'unknown', method: 'unknown' });
    assert.equal(codeName(grpc.status.OK), 'OK');
    assert.equal(codeName(grpc.status.PERMISSION_DENIED), 'PERMISSION_DENIED');
    assert.equal(codeName(999), 'UNKNOWN');
  });
});
