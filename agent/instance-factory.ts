/**
 * Builds the supervised Instance (supervisor/instance.ts) of one assignment, wired to the agent:
 * its output, the orphan guard, the spawn pacer, the metrics. What a change of its state means
 * for the slot it runs in is the reconciler's business (reconciler.ts): it passes `onChange`.
 */
import type { Assignment__Output as Assignment } from '../proto/gen/cluster/agent/Assignment';
import { bootCheckFor } from './supervisor/boot-check';
import { Instance } from './supervisor/instance';
import type { InstanceSnapshot } from './supervisor/instance-contract';
import type { SpawnPacer } from './spawn-pacer';
import type { ReconcilerDeps } from './reconciler-deps';

/** How an instance runs: fresh from a release, or as an adopted process left it (agent/handover/). */
export interface InstanceRun {
  command: string;
  cwd: string;
  env: Record<string, string>;
  graceMs: number;
  port: number;
}

export function createInstance(
  deps: ReconcilerDeps,
  pacer: SpawnPacer,
  spec: Assignment,
  run: InstanceRun,
  onChange: (snapshot: InstanceSnapshot) => void,
): Instance {
  return new Instance(
    {
      app: spec.app,
      instance: spec.instance,
      type: spec.type,
      command: run.command,
      cwd: run.cwd,
      env: run.env,
      graceMs: run.graceMs,
      output: deps.fifos.pathsOf(spec.app, spec.instance),
      // Fixed for the life of this Instance: a new boot timeout applies from the next start.
      bootCheck: bootCheckFor(spec.type, spec.boot_timeout_ms ?? 0, run.port),
    },
    {
      logger: deps.logger,
      onChange,
      onLine: (stream, line, cut) => deps.onLine(spec.app, spec.instance, stream, line, cut ?? false),
      onLines: deps.onLines && ((stream, run) => deps.onLines!(spec.app, spec.instance, stream, run)),
      outputGate: deps.outputGate?.(spec.app, spec.instance, !spec.logs_non_blocking),
      onSpawn: (pid) => deps.onSpawn(pid, spec.app, spec.instance),
      onExit: (pid) => deps.onExit(pid),
      // Restarts wait their turn with first starts: a crash storm does not starve heartbeats.
      pace: (spawn) => {
        // Now if this turn has spawning budget left (spawn-pacer.ts runSoon), else in a later turn.
        pacer.runSoon(() => {
          try {
            spawn();
          } catch (err) {
            // A restart that throws is a bug; it must not crash the agent.
            deps.logger.error({ err, app: spec.app, instance: spec.instance }, 'bug: restarting an instance failed');
          }
        });
      },
      // A restart spawns before its bookkeeping when this turn has budget left (instance.ts).
      spawnNow: (spawn) =>
        pacer.tryRunNow(() => {
          try {
            spawn();
          } catch (err) {
            deps.logger.error({ err, app: spec.app, instance: spec.instance }, 'bug: restarting an instance failed');
          }
        }),
      onProcessEnd: (reason) => deps.events?.processEnded(spec.app, spec.type, reason),
      onRestart: () => deps.events?.restarted(spec.app, spec.type),
      onSpawnTime: (seconds) => deps.events?.spawnTime(seconds),
    },
  );
}
