/**
 * StatusReporter (agent/link/status-reporter.ts) when the link leaves a replica for another: a
 * report waiting on the old one is cancelled and sent to the new one at once, not after the
 * old call's 10 s deadline; and every status is sent again each resend period.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { StatusReporter } from '../../agent/link/status-reporter';
import type { ControlPlaneLink } from '../../agent/link/control-plane-link';
import { ReplicaLeft } from '../../agent/link/replica-left';
import { createLogger } from '../../lib/log';
import type { AgentApiClient } from '../../proto/gen/cluster/agent/AgentApi';
import type { StatusReport } from '../../proto/gen/cluster/agent/StatusReport';
import { waitFor } from '../helpers/wait-for';

interface SentReport {
  request: StatusReport;
  answer: (leaseAlive: boolean) => void;
  cancelled: boolean;
}

/** A client whose ReportStatus calls wait until the test answers them (or they are cancelled). */
function heldClient(sent: SentReport[]): AgentApiClient {
  return {
    ReportStatus(request: StatusReport, _options: unknown, callback: (err: Error | null, reply?: unknown) => void) {
      const report: SentReport = { request, cancelled: false, answer: (alive) => callback(null, { lease_alive: alive, packs_apps: true }) };
      sent.push(report);
      return {
        cancel: () => {
          report.cancelled = true;
          callback(Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }));
        },
      };
    },
  } as unknown as AgentApiClient;
}

/** A registered link; switchReplica() does what ControlPlaneLink does when it leaves its replica. */
class FakeLink extends EventEmitter {
  leaseId = '42';
  state = 'registered';
  private readonly replicas = new ReplicaLeft();
  get replicaLeft(): AbortSignal {
    return this.replicas.signal;
  }
  leaseLost(): void {}
  switchReplica(): void {
    this.replicas.fire();
    this.emit('switched', '127.0.0.1:2', '127.0.0.1:1');
  }
}

function registeredLink(): FakeLink & ControlPlaneLink {
  return new FakeLink() as FakeLink & ControlPlaneLink;
}

describe('StatusReporter', () => {
  it('sends a report held by a replica it left to the new one at once, with what changed meanwhile', async () => {
    const sent: SentReport[] = [];
    const link = registeredLink();
    const reporter = new StatusReporter(heldClient(sent), link, 'host-a', createLogger('status-reporter-test', 'silent'));
    try {
      reporter.report({ app: 'shop', instance: 'run.1', state: 'up', pid: 7 });
      await waitFor('the first report sent', () => sent.length === 1, 2_000, 5);
      // Held: the old replica does not answer. A change meanwhile waits behind it.
      reporter.report({ app: 'shop', instance: 'web.1', state: 'up', pid: 8 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(sent.length, 1, 'one report at a time');
      const switchedAt = Date.now();
      link.switchReplica();
      await waitFor('the report sent again', () => sent.length === 2, 2_000, 5);
      assert.ok(Date.now() - switchedAt < 400, `sent again ${Date.now() - switchedAt} ms after the switch`);
      assert.ok(sent[0]!.cancelled, 'the held call was cancelled');
      assert.deepEqual(sent[1]!.request.statuses!.map((s) => s.instance).sort(), ['run.1', 'web.1']);
      assert.equal(sent[1]!.request.one_offs, 1);
      sent[1]!.answer(true);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(sent.length, 2, 'nothing left to send');
    } finally {
      reporter.close();
    }
  });

  it('sends every status again each resend period, with nothing new to report', async () => {
    const sent: SentReport[] = [];
    const startedAt = Date.now();
    // A 300 ms period (±20 %) for the test; agents use STATUS_RESEND_MS.
    const reporter = new StatusReporter(heldClient(sent), registeredLink(), 'host-a', createLogger('status-reporter-test', 'silent'), 300);
    try {
      reporter.report({ app: 'shop', instance: 'web.1', state: 'up', pid: 8 });
      reporter.report({ app: 'shop', instance: 'web.2', state: 'up', pid: 9 });
      await waitFor('the first report sent', () => sent.length === 1, 2_000, 5);
      sent[0]!.answer(true);
      for (const round of [2, 3]) {
        await waitFor(`resend ${round - 1}`, () => sent.length === round, 3_000, 5);
        assert.ok(Date.now() - startedAt >= 240 * (round - 1), `resend ${round - 1} came ${Date.now() - startedAt} ms after the start, before its period`);
        assert.deepEqual(sent[round - 1]!.request.statuses!.map((s) => `${s.instance} ${s.pid}`).sort(), ['web.1 8', 'web.2 9'], 'every status, as it was');
        sent[round - 1]!.answer(true);
      }
    } finally {
      reporter.close();
    }
  });

  it('retries a failed report after a pause, not at once', async () => {
    const sent: SentReport[] = [];
    const client = {
      ReportStatus(request: StatusReport, _options: unknown, callback: (err: Error | null) => void) {
        sent.push({ request, cancelled: false, answer: () => undefined });
        setImmediate(() => callback(Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 })));
        return { cancel: () => undefined };
      },
    } as unknown as AgentApiClient;
    const reporter = new StatusReporter(client, registeredLink(), 'host-a', createLogger('status-reporter-test', 'silent'));
    try {
      reporter.report({ app: 'shop', instance: 'web.1', state: 'up', pid: 8 });
      await waitFor('the first report sent', () => sent.length === 1, 2_000, 5);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(sent.length, 1, 'no retry within 150 ms');
      await waitFor('the retry', () => sent.length === 2, 3_000, 10);
    } finally {
      reporter.close();
    }
  });
});
