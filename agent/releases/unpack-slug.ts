/**
 * Unpacks a slug in a short-lived process of its own (unpack-slug-main.ts, extract-slug.ts), not
 * in the agent: node-tar reads an archive 16 MiB at a time and holds each entry as it goes, and
 * the C heap keeps what that took once it is freed. Unpacking a 23 MB slug of a Node app (90 MB of
 * node_modules) in the agent left it ~140 MB larger for good; a process that exits gives it all
 * back (docs/stack-notes.md, "The agent's memory").
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

const MAIN = path.join(__dirname, 'unpack-slug-main.js');
/** What is kept of the process's stderr for the error (its message; a crash's stack trace is cut). */
const MAX_STDERR = 4096;

/** Unpacks the gzipped tarball `archive` into the existing, empty folder `dir`; `warn` hears each entry left out and why. */
export function unpackSlug(archive: string, dir: string, warn: (message: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, archive, dir, String(process.pid)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
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
    child.on('error', (err) => reject(new Error(`cannot start the slug's unpacking: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`unpacking the slug failed: ${stderr.trim() || (signal ? `killed by ${signal}` : `exit status ${code}`)}`));
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
