import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideRestart,
  DEFAULT_RESTART_POLICY,
  describeExit,
  type ExitInfo,
  type RestartPolicyOptions,
} from '../../agent/supervisor/restart-policy';

const status = (code: number, uptimeMs = 10): ExitInfo => ({ code, signal: null, uptimeMs });
const killed = (signal: NodeJS.Signals, uptimeMs = 10): ExitInfo => ({ code: null, signal, uptimeMs });
const small: RestartPolicyOptions = { initialDelayMs: 50, maxDelayMs: 300, resetAfterMs: 1_000 };

describe('decideRestart', () => {
  const cases: Array<{
    name: string;
    exit: ExitInfo;
    previous: number;
    opts?: RestartPolicyOptions;
    delayMs: number;
    crashes: number;
    reason: string;
  }> = [
    { name: 'restarts at once after a first crash', exit: status(1), previous: 0, delayMs: 0, crashes: 1, reason: 'exited with status 1; restarting now' },
    { name: 'restarts a process that exited cleanly too', exit: status(0), previous: 0, delayMs: 0, crashes: 1, reason: 'exited with status 0; restarting now' },
    { name: 'waits the initial delay after a second crash in a row', exit: status(1), previous: 1, delayMs: 1_000, crashes: 2, reason: 'exited with status 1; restarting in 1 s (crash loop backoff)' },
    { name: 'doubles the delay for each further crash', exit: status(1), previous: 2, delayMs: 2_000, crashes: 3, reason: 'exited with status 1; restarting in 2 s (crash loop backoff)' },
    { name: 'backs off to 4 s on the fourth crash', exit: status(2), previous: 3, delayMs: 4_000, crashes: 4, reason: 'exited with status 2; restarting in 4 s (crash loop backoff)' },
    { name: 'doubles to 256 s on the tenth crash, the last step under the cap', exit: status(1), previous: 9, delayMs: 256_000, crashes: 10, reason: 'exited with status 1; restarting in 256 s (crash loop backoff)' },
    { name: 'caps the delay at 5 minutes on the eleventh crash (512 s doubled)', exit: status(1), previous: 10, delayMs: 300_000, crashes: 11, reason: 'exited with status 1; restarting in 300 s (crash loop backoff)' },
    { name: 'stays at the cap after many crashes', exit: status(1), previous: 11, delayMs: 300_000, crashes: 12, reason: 'exited with status 1; restarting in 300 s (crash loop backoff)' },
    { name: 'never overflows in an endless crash loop', exit: status(1), previous: 100_000, delayMs: 300_000, crashes: 100_001, reason: 'exited with status 1; restarting in 300 s (crash loop backoff)' },
    { name: 'forgives past crashes after a long healthy run', exit: status(1, 600_000), previous: 7, delayMs: 0, crashes: 1, reason: 'exited with status 1; restarting now' },
    { name: 'keeps counting when the run was just short of healthy', exit: status(1, 599_999), previous: 1, delayMs: 1_000, crashes: 2, reason: 'exited with status 1; restarting in 1 s (crash loop backoff)' },
    { name: 'describes a kill by signal with its shell status', exit: killed('SIGKILL'), previous: 0, delayMs: 0, crashes: 1, reason: 'killed by SIGKILL (status 137); restarting now' },
    { name: 'counts a kill by signal as a crash', exit: killed('SIGSEGV'), previous: 1, delayMs: 1_000, crashes: 2, reason: 'killed by SIGSEGV (status 139); restarting in 1 s (crash loop backoff)' },
    { name: 'uses custom policy numbers', exit: status(1), previous: 2, opts: small, delayMs: 100, crashes: 3, reason: 'exited with status 1; restarting in 100 ms (crash loop backoff)' },
    { name: 'caps custom delays', exit: status(1), previous: 6, opts: small, delayMs: 300, crashes: 7, reason: 'exited with status 1; restarting in 300 ms (crash loop backoff)' },
    { name: 'resets with a custom reset time', exit: status(1, 1_000), previous: 6, opts: small, delayMs: 0, crashes: 1, reason: 'exited with status 1; restarting now' },
    { name: 'formats fractional seconds', exit: status(1), previous: 1, opts: { ...small, initialDelayMs: 1_500, maxDelayMs: 10_000 }, delayMs: 1_500, crashes: 2, reason: 'exited with status 1; restarting in 1.5 s (crash loop backoff)' },
  ];

  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(decideRestart(c.exit, c.previous, c.opts), {
        action: 'restart',
        delayMs: c.delayMs,
        crashes: c.crashes,
        reason: c.reason,
      });
    });
  }

  it('follows 0, 1, 2, 4 … 256 s, then stays at the 300 s cap through a crash loop with the defaults', () => {
    const delays: number[] = [];
    let crashes = 0;
    for (let i = 0; i < 40; i++) {
      const decision = decideRestart(status(1), crashes);
      crashes = decision.crashes;
      delays.push(decision.delayMs / 1_000);
    }
    assert.deepEqual(delays, [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, ...Array<number>(30).fill(300)]);
  });

  it('has the documented defaults', () => {
    assert.deepEqual({ ...DEFAULT_RESTART_POLICY }, { initialDelayMs: 1_000, maxDelayMs: 300_000, resetAfterMs: 600_000 });
  });
});

describe('describeExit', () => {
  const cases: Array<[number | null, NodeJS.Signals | null, string]> = [
    [0, null, 'exited with status 0'],
    [1, null, 'exited with status 1'],
    [127, null, 'exited with status 127'],
    [null, 'SIGKILL', 'killed by SIGKILL (status 137)'],
    [null, 'SIGTERM', 'killed by SIGTERM (status 143)'],
    [null, 'SIGINT', 'killed by SIGINT (status 130)'],
    [null, null, 'exited with unknown status'],
  ];
  for (const [code, signal, text] of cases) {
    it(`describes code ${code} signal ${signal} as "${text}"`, () => {
      assert.equal(describeExit(code, signal), text);
    });
  }
});
