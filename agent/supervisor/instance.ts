/**
 * Supervises one instance (e.g. web.1) across restarts: spawns its process, restarts it with
 * backoff when it exits, stops it in stages. Restart timing is decided in restart-policy.ts.
 */
import type { Logger } from '../../lib/log';
import { describeBootTimeout, describeWait, watchBoot, type BootCheck, type BootWatch } from './boot-check';
import { adoptInstanceProcess, spawnInstanceProcess, type ProcessExit, type RunningProcess } from './child-process';
import type { OutputStream } from './output-reader';
import type { LineRun } from './line-splitter';
import {
  decideRestart,
  describeRestartDelay,
  DEFAULT_RESTART_POLICY,
  type RestartPolicyOptions,
} from './restart-policy';
import { signalGroup } from './process-group';
import { DirectCommandMemo } from './shell-script';
import { describeProcessEnd } from './process-end';
import { TRANSITIONS, type AdoptedProcess, type WaitingInstance, type InstanceConfig, type InstanceHooks, type InstanceSnapshot, type InstanceState } from './instance-contract';

/** Supervisor of one instance across restarts. */
export class Instance {
  private state: InstanceState = 'stopped';
  private reason = 'not started';
  private pid = 0;
  private startedAtMs = 0;
  private restarts = 0;
  private crashes = 0;
  private proc: RunningProcess | undefined;
  private exitHandled: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;
  private restartImmediate: NodeJS.Immediate | undefined;
  /** Bumped when a pending restart is cancelled: a paced restart that was already queued then does nothing. */
  private restartGeneration = 0;
  private stopping: Promise<void> | undefined;
  private boot: BootWatch | undefined;
  /** Set when the boot check failed and the process is being killed for it: the crash's reason. */
  private bootFailure: string | undefined;
  /** Why the process last crashed, kept in the reason while it restarts (until it is up again). */
  private lastCrash: string | undefined;
  /** When the pending restart after a crash is due (wall clock): the next agent run keeps it. */
  private restartAtMs = 0;
  private readonly log: Logger;
  /** The hook's onLines for the pipe readers, guarded like every hook; none when the hooks have none. */
  private readonly onLines: ((stream: OutputStream, run: LineRun) => void) | undefined;
  /** The program found for the command, kept across restarts (shell-script.ts). */
  private readonly directMemo = new DirectCommandMemo();

  constructor(
    private config: InstanceConfig,
    private readonly hooks: InstanceHooks,
    private readonly policy: RestartPolicyOptions = DEFAULT_RESTART_POLICY,
  ) {
    this.log = hooks.logger.child({ app: config.app, instance: config.instance, type: config.type });
    this.onLines = hooks.onLines && ((stream, run) => this.callHook('onLines', () => hooks.onLines?.(stream, run)));
  }

  /** Spawns the process; the state goes starting → up once it runs. Throws unless stopped. */
  start(): void {
    this.transition('starting', 'start requested');
    this.stopping = undefined;
    this.restarts = 0;
    this.crashes = 0;
    this.lastCrash = undefined;
    this.spawnProcess();
  }

  /** Takes over a running process of an earlier agent run (same pid, same counters). Throws unless stopped. */
  adopt(adopted: AdoptedProcess): void {
    if (!this.config.output) throw new Error('bug: only an instance with output FIFOs can be adopted');
    this.stopping = undefined;
    this.restarts = adopted.restarts;
    this.crashes = adopted.crashes;
    const proc = adoptInstanceProcess({
      pid: adopted.pid,
      startTicks: adopted.startTicks,
      startedAtMs: adopted.startedAtMs,
      output: this.config.output,
      graceMs: this.config.graceMs,
      outputGate: this.hooks.outputGate,
      onLine: (stream, line, cut) => this.callHook('onLine', () => this.hooks.onLine(stream, line, cut)),
      onLines: this.onLines,
    });
    this.watch(proc);
    this.system(`Taken over by a restarted agent (pid ${adopted.pid}, ${adopted.restarts} restarts so far)${adopted.notice ? `; ${adopted.notice}` : ''}`);
    const check = this.config.bootCheck;
    if (adopted.booting && check) {
      // Still booting: up only once its check passes (a rollout waits for that), R10 at the
      // same deadline as if the agent had not restarted.
      this.transition('starting', describeWait(check), false);
      this.checkBoot(proc, check, Date.now() - adopted.startedAtMs);
      return;
    }
    this.transition('up', '', false); // a reason says why an instance is not up (docs/cli.md)
  }

  /**
   * Waits on in the crash loop backoff an earlier agent run left this instance in: same counters,
   * started again when that run would have. Throws unless stopped.
   */
  resumeBackoff(waiting: WaitingInstance): void {
    this.stopping = undefined;
    this.restarts = waiting.restarts;
    this.crashes = waiting.crashes;
    this.lastCrash = waiting.lastCrash;
    this.restartAtMs = waiting.restartAtMs;
    this.transition('crashed', waiting.lastCrash, false);
    const delayMs = Math.max(0, waiting.restartAtMs - Date.now());
    this.system(`Taken over by a restarted agent (no process: ${waiting.restarts} restarts so far); ${describeRestartDelay(delayMs)}`);
    this.scheduleRestart(this.restartGeneration, delayMs);
  }

  /**
   * Lets go of the process without stopping it (the agent hands over to its next run): output
   * stays in the FIFOs for the next agent, no restart is scheduled. The instance is unusable after.
   */
  detach(): void {
    this.cancelRestart();
    this.cancelBoot();
    this.proc?.detach();
  }

  /** What a later agent run needs to take the instance over: with no process, when its restart is due. */
  get counters(): { crashes: number; restartAtMs: number; lastCrash: string } {
    return { crashes: this.crashes, restartAtMs: this.restartAtMs, lastCrash: this.lastCrash ?? this.reason };
  }

  /** Changes the environment of the next spawn (an adopted instance's, once it is known). */
  setEnv(env: Record<string, string>): void {
    this.config = { ...this.config, env };
  }

  /** Changes the grace period used by the next stop (no restart needed). */
  setGraceMs(graceMs: number): void {
    this.config = { ...this.config, graceMs };
  }

  /** Changes the boot check of the next spawn (no restart needed). */
  setBootCheck(bootCheck: BootCheck): void {
    this.config = { ...this.config, bootCheck };
  }

  /**
   * Stops the instance (SIGTERM, SIGKILL after the grace period); idempotent, resolves once the
   * group is gone. `signalledAtMs`: an earlier agent run sent SIGTERM then (wall clock); the stop
   * goes on from there, to the same SIGKILL deadline.
   */
  stop(reason: string, signalledAtMs?: number): Promise<void> {
    if (this.stopping) return this.stopping;
    if (this.state === 'stopped') return Promise.resolve();
    this.system(signalledAtMs === undefined ? `Stopping (${reason})` : `Still stopping (${reason}; SIGTERM sent by the previous agent run)`);
    this.transition('stopping', reason);
    this.cancelRestart();
    this.cancelBoot();
    this.stopping = this.finishStop(reason, signalledAtMs);
    return this.stopping;
  }

  /**
   * Sends SIGKILL to the process group (`ps:kill`); the exit counts as a crash, so the instance
   * is started again as after any crash. False when no process runs (or it is being stopped).
   */
  kill(): boolean {
    // Stopping too: `ps:kill` cuts a grace period short (the stop then ends, nothing restarts it).
    if (!this.proc || this.pid === 0 || this.state === 'stopped') return false;
    this.system(this.state === 'stopping' ? 'Killing process (SIGKILL) on request while it stops' : 'Killing process (SIGKILL) on request');
    signalGroup(this.pid, 'SIGKILL');
    return true;
  }

  /** Current state. */
  snapshot(): InstanceSnapshot {
    return {
      state: this.state,
      pid: this.pid,
      startedAtMs: this.startedAtMs,
      restarts: this.restarts,
      reason: this.reason,
    };
  }

  private async finishStop(reason: string, signalledAtMs?: number): Promise<void> {
    const proc = this.proc;
    if (proc) {
      if (signalledAtMs === undefined) await proc.stop(this.config.graceMs);
      else await proc.stop(Math.max(0, signalledAtMs + this.config.graceMs - Date.now()), true);
      await this.exitHandled; // moves to 'stopped'
    } else {
      this.transition('stopped', reason); // crashed and waiting for a restart: nothing runs
    }
  }

  /**
   * Spawns the process and tells the orphan guard of its group, nothing else: the caller
   * (spawnProcess) does the bookkeeping, possibly after a crash's (see onProcessExit).
   */
  private launch(): Launched {
    const { command, cwd, env } = this.config;
    const spawnStarted = performance.now();
    const proc = spawnInstanceProcess({
      command,
      cwd,
      env,
      output: this.config.output,
      outputGate: this.hooks.outputGate,
      onLine: (stream, line, cut) => this.callHook('onLine', () => this.hooks.onLine(stream, line, cut)),
      onLines: this.onLines,
      directMemo: this.directMemo,
    });
    // First: the orphan guard must hear of the group before anything else can happen.
    if (proc.pid !== 0) this.callHook('onSpawn', () => this.hooks.onSpawn?.(proc.pid));
    return { proc, spawnSeconds: (performance.now() - spawnStarted) / 1000 };
  }

  /** Starts the process (or takes the one `launched` already started) and says so. */
  private spawnProcess(launched?: Launched): void {
    this.system(`Starting process with command \`${this.config.command}\``);
    const { proc, spawnSeconds } = launched ?? this.launch();
    this.watch(proc);
    if (proc.pid === 0) return; // spawning failed: the exit handler reports it
    this.callHook('onSpawnTime', () => this.hooks.onSpawnTime?.(spawnSeconds));
    this.log.info({ pid: proc.pid, restarts: this.restarts }, 'process started');
    const check = this.config.bootCheck;
    if (!check) {
      this.transition('up', '');
      return;
    }
    // Still `starting`: say what it waits for (ps shows the pid and this reason), and why it
    // crashed last, which an immediate restart would otherwise hide at once.
    this.reason = this.lastCrash ? `${describeWait(check)}; last crash: ${this.lastCrash}` : describeWait(check);
    const snapshot = this.snapshot();
    this.callHook('onChange', () => this.hooks.onChange(snapshot));
    this.checkBoot(proc, check);
  }

  /** Watches `proc`'s boot check (it has run `elapsedMs` already): `up` when it passes, R10 when a port check times out. */
  private checkBoot(proc: RunningProcess, check: BootCheck, elapsedMs = 0): void {
    this.boot = watchBoot(check, {
      onPass: () => {
        this.boot = undefined;
        // A process already gone whose exit is not reported yet (a grandchild that left its
        // group holds the pipes, child-process.ts) never counts as up: its exit follows.
        if (this.proc !== proc || this.state !== 'starting' || !proc.alive) return;
        if (check.kind === 'port') this.system(`Accepting connections on $PORT (${check.port})`);
        this.lastCrash = undefined;
        this.transition('up', '');
      },
      onTimeout: () => {
        this.boot = undefined;
        if (this.proc !== proc || this.state !== 'starting' || check.kind !== 'port' || !proc.alive) return;
        this.bootFailure = describeBootTimeout(check);
        this.system(`Error R10 (Boot timeout): the process ${this.bootFailure.replace(/ \(R10.*$/, '')} of launch; stopping it (SIGKILL)`);
        // SIGKILL alone, as the line says (and as on Heroku): no SIGTERM first (stop()'s `signalled`).
        // Its exit is handled by watch(), like any other; stop() resolves then and never rejects.
        proc.stop(0, true).catch((err: unknown) => this.log.error({ err }, 'bug: stopping a process after its boot timeout failed'));
      },
    }, elapsedMs);
  }

  private cancelBoot(): void {
    this.boot?.cancel();
    this.boot = undefined;
  }

  private watch(proc: RunningProcess): void {
    this.proc = proc;
    this.pid = proc.pid;
    this.startedAtMs = proc.startedAtMs;
    this.exitHandled = proc.exited
      .then((exit) => this.onProcessExit(proc, exit))
      .catch((err: unknown) => this.log.error({ err }, 'bug: failed to handle a process exit; the instance may be stuck'));
  }

  private onProcessExit(proc: RunningProcess, exit: ProcessExit): void {
    this.proc = undefined;
    this.pid = 0;
    this.cancelBoot();
    if (proc.pid !== 0) this.callHook('onExit', () => this.hooks.onExit?.(proc.pid));
    const uptimeMs = Date.now() - proc.startedAtMs;
    const stopping = this.state === 'stopping';
    const decision = stopping ? undefined : decideRestart({ code: exit.code, signal: exit.signal, uptimeMs }, this.crashes, this.policy);
    // An immediate restart spawns first, in this turn if the pacer lets it, and everything
    // below (lines, metrics, status report, state file: ~0.4 ms) happens while the new process
    // starts; the lines come out in the same order, before any line of the new process (its
    // output is read in a later turn).
    const generation = this.restartGeneration;
    let launched: Launched | undefined;
    if (decision?.delayMs === 0) this.hooks.spawnNow?.(() => (launched = this.launch()));
    const bootFailure = this.bootFailure;
    this.bootFailure = undefined;
    const { what, reason } = describeProcessEnd(exit, { stopping, booting: this.state === 'starting' && !!this.config.bootCheck, bootFailure });
    this.system(`Process ${what}`);
    this.callHook('onProcessEnd', () => this.hooks.onProcessEnd?.(reason));

    if (!decision) {
      this.log.info({ pid: proc.pid, code: exit.code, signal: exit.signal }, 'process stopped');
      this.transition('stopped', this.reason);
      return;
    }

    this.crashes = decision.crashes;
    this.restartAtMs = Date.now() + decision.delayMs;
    this.log.warn(
      { pid: proc.pid, code: exit.code, signal: exit.signal, err: exit.error, uptimeMs, crashes: decision.crashes, delayMs: decision.delayMs },
      `process ${decision.reason}`,
    );
    this.lastCrash = what;
    this.transition('crashed', what);
    if (launched) {
      this.restart(generation, launched);
      return;
    }
    if (decision.delayMs > 0) this.system(capitalize(describeRestartDelay(decision.delayMs)));
    this.scheduleRestart(generation, decision.delayMs);
  }

  private scheduleRestart(generation: number, delayMs: number): void {
    // No recursion even when the pacer restarts at once: this runs from the `exited` promise,
    // and a spawn that fails at once resolves its own `exited` in a later microtask. Without a
    // pacer: setImmediate, not setTimeout(0), which waits at least 1 ms, a fifth of a restart.
    const restart = () => this.restart(generation);
    const pace = this.hooks.pace;
    if (delayMs > 0) this.restartTimer = setTimeout(() => (pace ? pace(restart) : restart()), delayMs);
    else if (pace) pace(restart);
    else this.restartImmediate = setImmediate(restart);
  }

  private cancelRestart(): void {
    clearTimeout(this.restartTimer);
    clearImmediate(this.restartImmediate);
    this.restartTimer = undefined;
    this.restartImmediate = undefined;
    this.restartGeneration++;
  }

  private restart(generation: number, launched?: Launched): void {
    this.restartTimer = undefined;
    this.restartImmediate = undefined;
    if (generation !== this.restartGeneration || this.state !== 'crashed') {
      // stop() won the race (a hook may call it while a crash is written about, after the
      // restart's spawn): a process already started is stopped at once.
      if (launched) this.discard(launched.proc);
      return;
    }
    this.restarts++;
    this.callHook('onRestart', () => this.hooks.onRestart?.());
    this.transition('starting', `restarting after a crash (${this.lastCrash ?? 'unknown'})`);
    this.spawnProcess(launched);
  }

  /** Stops a process started for a restart that was called off, and forgets its group once gone. */
  private discard(proc: RunningProcess): void {
    if (proc.pid === 0) return;
    this.log.warn({ pid: proc.pid }, 'restart called off after its spawn; stopping the new process');
    proc
      .stop(0)
      .then(() => this.callHook('onExit', () => this.hooks.onExit?.(proc.pid)))
      .catch((err: unknown) => this.log.error({ err }, 'bug: stopping a process whose restart was called off failed'));
  }

  /** `say`: log "State changed …" (not for a process taken over: it was never stopped, its take-over line says so). */
  private transition(to: InstanceState, reason: string, say = true): void {
    const from = this.state;
    if (!TRANSITIONS[from].includes(to)) {
      throw new Error(`illegal instance state transition ${from} → ${to} (${this.config.app}/${this.config.instance})`);
    }
    this.state = to;
    this.reason = reason;
    if (say) this.system(`State changed from ${from} to ${to}`);
    const snapshot = this.snapshot();
    this.callHook('onChange', () => this.hooks.onChange(snapshot));
  }

  private system(line: string): void {
    this.callHook('onLine', () => this.hooks.onLine('system', line, false));
  }

  // Hooks run inside pipe and timer callbacks, where a throw would crash the agent.
  private callHook(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, hook: name }, 'instance hook threw; ignoring it');
    }
  }
}

/** A process spawned by launch(), and how long the spawn took. */
interface Launched {
  proc: RunningProcess;
  spawnSeconds: number;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
