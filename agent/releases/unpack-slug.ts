/**
 * Unpacks a slug in a short-lived process of its own (unpack-slug-main.ts, extract-slug.ts), not
 * in the agent: node-tar reads an archive 16 MiB at a time and holds each entry as it goes, and
 * the C heap keeps what that took once it is freed. Unpacking a 23 MB slug of a Node app (90 MB of
 * node_modules) in the agent left it ~140 MB larger for good; a process that exits gives it all
 * back (docs/stack-notes.md, "The agent's memory"). Such a process peaks at ~150 MB, so at most
 * two run at once (a fresh agent or a deploy of many apps fetches several slugs together).
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const MAIN = path.join(__dirname, 'unpack-slug-main.js');
/** What is kept of the process's stderr for the error (its message; a crash's stack trace is cut). */
const MAX_STDERR = 4096;
/** Unpacking processes at once; the others wait their turn. */
const MAX_AT_ONCE = 2;
/** An unpacking that takes longer is stuck (a hung disk): its process is killed and the start fails. */
const UNPACK_TIMEOUT_MS = 10 * 60_000;

let running = 0;
const waiting: Array<() => void> = [];

export interface UnpackOptions {
  /** How long the unpacking may take (default 10 min). */
  timeoutMs?: number;
}

/** Unpacks the gzipped tarball `archive` into the existing, empty folder `dir`; `warn` hears each entry left out and why. */
export async function unpackSlug(archive: string, dir: string, warn: (message: string) => void, opts: UnpackOptions = {}): Promise<void> {
  if (running >= MAX_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    await runUnpacking(archive, dir, warn, opts.timeoutMs ?? UNPACK_TIMEOUT_MS);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function runUnpacking(archive: string, dir: string, warn: (message: string) => void, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // In a process group of its own: a Ctrl-C meant for a foreground agent (which hands its
    // instances over) must not fail the unpacking under way. It ends itself if the agent dies.
    const child = spawn(process.execPath, [MAIN, archive, dir, String(process.pid)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stderr = '';
    let pending = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line !== '') warn(warning(line));
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (stderr.length < MAX_STDERR) stderr = (stderr + text).slice(0, MAX_STDERR);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start the slug's unpacking: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const how = timedOut ? `it took longer than ${timeoutMs / 1000} s and was killed` : signal ? `killed by ${signal}` : `exit status ${code}`;
      const said = stderr.trim();
      reject(new Error(`unpacking the slug failed (${how})${said ? `: ${said}` : ''}`));
    });
  });
}

/** A line of the process's stdout: one JSON string (anything else is passed on as it is). */
function warning(line: string): string {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'string' ? value : line;
  } catch {
    return line;
  }
}
