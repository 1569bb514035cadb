/**
 * How bench/logs.ts waits out a measured phase: polls what was stored or delivered until every
 * writer's lines are in or nothing moves for STALL_MS, and notes how much CPU processes that
 * are not the benchmark's took meanwhile (they skew the figures).
 */
import type { ChildProcess } from 'node:child_process';
import type { DeliveryReader } from './delivery';
import type { StoredProgress } from './file-tail';
import { DELIVERY_CAP_MS, STALL_MS } from './logs-options';
import { othersCpu, snapshotAll } from './proc-sampler';
import { sleep } from './runs';

/** The most CPU other processes used during any measured phase of a run. */
export class OthersCpu {
  /** Processes whose descendants are ours (the bench; PM2's daemon, which detaches). */
  readonly roots: number[] = [process.pid];
  max = 0;

  /** Measures a phase's window and notes how much CPU other processes took meanwhile. */
  async watching<T>(measure: () => Promise<T>): Promise<T> {
    const before = snapshotAll();
    const result = await measure();
    this.max = Math.max(this.max, othersCpu(before, snapshotAll(), this.roots));
    return result;
  }
}

/** Polls the stored files until every writer's last line is there (or nothing moves for STALL_MS). */
export async function watchStored(tails: Array<StoredProgress & { poll(): void; close(): void }>, lines: number): Promise<{ end: number; complete: boolean }> {
  let progressAt = Date.now();
  let lastSum = -1;
  try {
    for (;;) {
      for (const t of tails) t.poll();
      const now = Date.now();
      if (tails.every((t) => t.kept + t.dropped >= lines)) return { end: now, complete: true };
      const sum = tails.reduce((s, t) => s + t.bytes, 0);
      if (sum !== lastSum) {
        lastSum = sum;
        progressAt = now;
      } else if (now - progressAt > STALL_MS) return { end: progressAt, complete: false };
      await sleep(10);
    }
  } finally {
    for (const t of tails) t.close();
  }
}

/** Waits until every writer's lines arrived (or were reported missed), nothing moves for STALL_MS, or the cap. */
export async function watchDelivery(reader: DeliveryReader, ids: string[], lines: number, goAt: number): Promise<boolean> {
  const printed = ids.length * lines;
  let last = -1;
  let progressAt = Date.now();
  for (;;) {
    // Every line arrived or was reported missed (the newest may be the ones dropped: a
    // writer that finished first has its last lines pushed out by the others).
    if (reader.received + reader.markedMissed >= printed) return true;
    const now = Date.now();
    if (reader.received !== last) {
      last = reader.received;
      progressAt = now;
    } else if (now - progressAt > (reader.sawLast(ids, lines) ? 1000 : STALL_MS)) return false;
    if (now - goAt > DELIVERY_CAP_MS) return false;
    await sleep(20);
  }
}

/** Stops a follower with `signal`, SIGKILL after 10 s; resolves once it exited. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
