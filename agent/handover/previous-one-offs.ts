/**
 * One-offs are not handed over: what the previous agent run left of them was stopped, or had
 * ended while no agent ran, or never started (its code was being fetched: take-over.ts). Their
 * `up` or `starting` statuses under a kept lease would stay in `ps` until the lease ends: each is
 * reported gone, and its log says why.
 */
import type { LogStore } from '../logs/log-store';
import type { StatusReporter } from '../link/status-reporter';
import type { TakeOverResult } from './take-over';

export function reportPreviousOneOffs(previous: TakeOverResult, logs: LogStore, reporter: StatusReporter): void {
  for (const { pgid, app, instance } of previous.stoppedOneOffs) {
    logs.append(app, instance, 'system', `Stopping process (pid ${pgid}): the agent run that started it has ended, and one-off processes are not handed over`, false);
    reporter.report({ app, instance, state: 'gone', pid: pgid, reason: 'stopped: the agent run that started it ended' });
  }
  for (const { pgid, app, instance } of previous.endedOneOffs) {
    logs.append(app, instance, 'system', `Process (pid ${pgid}) ended while no agent ran (the agent run that started it ended); its exit status is unknown`, false);
    reporter.report({ app, instance, state: 'gone', pid: pgid, reason: 'ended while no agent ran' });
  }
  for (const { app, instance } of previous.unstartedOneOffs) {
    logs.append(app, instance, 'system', 'Not started: the agent run that was fetching its code ended', false);
    reporter.report({ app, instance, state: 'gone', pid: 0, reason: 'not started: the agent run that was fetching its code ended' });
  }
}
