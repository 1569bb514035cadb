import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InstanceInfo } from '../../proto/gen/cluster/api/InstanceInfo';
import type { UsageReply__Output } from '../../proto/gen/cluster/agent/UsageReply';
import { addInstanceUsage, addLiveProcesses, type UsageDeps } from '../../control-plane/api/instance-usage';
import { createLogger } from '../../lib/log';

/** Agents a, b and c; a and b answer Usage with `replies`, c never answers. */
function deps(replies: Record<string, UsageReply__Output>): UsageDeps {
  const agents = ['a', 'b', 'c'].map((id) => ({ id, address: `127.0.0.1:${id.charCodeAt(0)}` }));
  return {
    view: { agentList: () => agents } as unknown as UsageDeps['view'],
    dialer: {
      statsClient: (agent: { id: string }) => ({
        Usage: (_req: unknown, _opts: unknown, cb: (err: Error | null, reply?: UsageReply__Output) => void) => {
          const reply = replies[agent.id];
          if (reply) setImmediate(() => cb(null, reply));
          else setImmediate(() => cb(Object.assign(new Error('deadline'), { details: 'Deadline exceeded' })));
        },
      }),
    } as unknown as UsageDeps['dialer'],
    logger: createLogger('test', 'silent'),
  };
}

const sample = (instance: string, pid: number, app = 'shop') => ({ app, instance, pid, cpu_seconds: 1.5, rss_bytes: 3e6, cpu_percent: 0.4, sampled_at_ms: 1 });

describe('instance usage in ps', () => {
  it('takes a sample only for the same instance and pid', async () => {
    const instances: InstanceInfo[] = [
      { name: 'worker.1', host: 'a', pid: 10 },
      { name: 'worker.2', host: 'a', pid: 11 },
      { name: 'worker.3', host: 'c', pid: 12 },
    ];
    await addInstanceUsage(deps({ a: { instances: [sample('worker.1', 10), sample('worker.2', 99), sample('worker.1', 10, 'other')] } }), 'shop', instances);
    assert.equal(instances[0]!.rss_bytes, 3e6);
    assert.equal(instances[1]!.rss_bytes, undefined, 'a restarted process is a new one');
    assert.equal(instances[2]!.rss_bytes, undefined, 'an agent that does not answer leaves the fields unset');
  });

  it('while etcd cannot be read, fills the process each agent reports running, and says which agent did not answer', async () => {
    const instances: InstanceInfo[] = [
      { name: 'worker.1', host: 'a', state: 'unknown' },
      { name: 'worker.2', host: 'b', state: 'unknown' },
      { name: 'worker.3', host: 'c', state: 'unknown' },
      { name: 'worker.4', state: 'unknown' },
    ];
    await addLiveProcesses(deps({ a: { instances: [sample('worker.1', 42)] }, b: { instances: [sample('worker.1', 43)] } }), 'shop', instances);
    assert.deepEqual(instances.map((i) => [i.name, i.state, i.pid, i.rss_bytes, i.reason]), [
      ['worker.1', 'unknown', 42, 3e6, 'etcd cannot be read: placed here when last known; its agent reports it running'],
      ['worker.2', 'unknown', undefined, undefined, 'etcd cannot be read: placed here when last known; its agent reports no process for it'],
      ['worker.3', 'unknown', undefined, undefined, 'etcd cannot be read: placed here when last known; its agent did not answer'],
      ['worker.4', 'unknown', undefined, undefined, undefined],
    ]);
  });
});
