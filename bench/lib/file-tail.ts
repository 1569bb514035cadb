/**
 * Watching log files grow, to see what a process manager has stored: the agent's log store
 * (`<dir>/<gen>.log` per instance, rotated and old files deleted) and PM2's plain out files.
 *
 * Both report, per writer: the sequence number of the last whole writer line stored, the
 * print time of the first, and how many lines the manager says it left out (the agent
 * writes a marker line "N lines not written to disk (…)" where it drops).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const LF = 0x0a;
const LINE = 100;
const SYSTEM = Buffer.from('\ts\t');
const STDERR = Buffer.from('\te\t');
const STDOUT_WRITER = Buffer.from('\to\t@');

/** A writer line (see log-writer.ts) starting at `at` (its '@'): its seq and print time. */
export function parseWriterLine(buf: Buffer, at: number): { seq: number; ms: number } | undefined {
  const space = buf.indexOf(0x20, at);
  if (space === -1 || space - at > 60) return undefined;
  const seq = digits(buf, space + 1, 9);
  const ms = digits(buf, space + 11, 13);
  if (seq < 0 || ms < 0) return undefined;
  return { seq, ms };
}

function digits(buf: Buffer, off: number, n: number): number {
  if (off + n > buf.length) return -1;
  let v = 0;
  for (let i = off; i < off + n; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export interface StoredProgress {
  /** Writer lines stored. */
  kept: number;
  /** Seq of the newest writer line stored (-1: none yet). */
  lastSeq: number;
  /** Print time of the first writer line stored. */
  firstMs: number | undefined;
  /** Lines the manager says it did not store. */
  dropped: number;
  /** Files that came and went before we could open them (their content is unaccounted for). */
  missedFiles: number;
  bytes: number;
}

interface OpenFile {
  gen: number;
  fd: number;
  pos: number;
  carry: number;
}

const READ_BUF = 4 << 20;
const MAX_CARRY = 64 << 10;

/** One instance's directory in the agent's log store. */
export class AgentInstanceTail implements StoredProgress {
  kept = 0;
  lastSeq = -1;
  firstMs: number | undefined;
  dropped = 0;
  missedFiles = 0;
  bytes = 0;
  private maxOpened: number | undefined;
  private files: OpenFile[] = [];
  private readonly buf = Buffer.allocUnsafe(READ_BUF + MAX_CARRY);
  private carry = Buffer.allocUnsafe(MAX_CARRY);

  constructor(readonly dir: string) {}

  poll(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return; // not created yet
    }
    const gens = names
      .map((n) => /^(\d+)\.log$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const gen of gens) {
      if (this.maxOpened !== undefined && gen <= this.maxOpened) continue;
      if (this.maxOpened !== undefined && gen > this.maxOpened + 1) this.missedFiles += gen - this.maxOpened - 1;
      this.maxOpened = gen;
      try {
        this.files.push({ gen, fd: fs.openSync(path.join(this.dir, `${gen}.log`), 'r'), pos: 0, carry: 0 });
      } catch {
        this.missedFiles++;
      }
    }
    // A file with a newer one beside it is complete (the agent closes a file before starting the next).
    while (this.files.length > 0) {
      const f = this.files[0]!;
      this.readToEnd(f);
      if (this.files.length === 1) break;
      fs.closeSync(f.fd);
      this.files.shift();
    }
  }

  close(): void {
    for (const f of this.files) fs.closeSync(f.fd);
    this.files = [];
  }

  private readToEnd(f: OpenFile): void {
    const buf = this.buf;
    for (;;) {
      if (f.carry > 0) this.carry.copy(buf, 0, 0, f.carry);
      const n = fs.readSync(f.fd, buf, f.carry, READ_BUF, f.pos);
      if (n === 0) return;
      f.pos += n;
      this.bytes += n;
      const end = f.carry + n;
      const lastNl = buf.lastIndexOf(LF, end - 1);
      if (lastNl === -1) {
        f.carry = Math.min(end, MAX_CARRY);
        buf.copy(this.carry, 0, 0, f.carry);
        continue;
      }
      this.scan(buf.subarray(0, lastNl + 1));
      f.carry = Math.min(end - lastNl - 1, MAX_CARRY);
      buf.copy(this.carry, 0, lastNl + 1, lastNl + 1 + f.carry);
    }
  }

  /**
   * Whole lines: every line is counted, and the agent's own (system) and stderr lines are
   * taken off (their stream code follows the second tab; the writer's text has no tabs);
   * drop markers are read; the first writer line once, the last writer line.
   */
  private scan(b: Buffer): void {
    let lines = 0;
    for (let i = b.indexOf(LF); i !== -1; i = b.indexOf(LF, i + 1)) lines++;
    for (let i = b.indexOf(SYSTEM); i !== -1; i = b.indexOf(SYSTEM, i + 1)) {
      lines--;
      const end = b.indexOf(LF, i);
      const m = /^(\d+) lines? not written to disk/.exec(b.toString('latin1', i + 3, end));
      if (m) this.dropped += Number(m[1]);
    }
    for (let i = b.indexOf(STDERR); i !== -1; i = b.indexOf(STDERR, i + 1)) lines--;
    this.kept += lines;
    if (this.firstMs === undefined) {
      const i = b.indexOf(STDOUT_WRITER);
      if (i !== -1) this.firstMs = parseWriterLine(b, i + 3)?.ms;
    }
    const j = b.lastIndexOf(STDOUT_WRITER);
    if (j !== -1) {
      const w = parseWriterLine(b, j + 3);
      if (w && w.seq > this.lastSeq) this.lastSeq = w.seq;
    }
  }
}

/**
 * One PM2 out file: PM2 writes what it read from the pipe as it is, so it holds only the
 * writer's 100-byte lines and its size tells the count; the last line is checked.
 */
export class PlainFileTail implements StoredProgress {
  kept = 0;
  lastSeq = -1;
  firstMs: number | undefined;
  dropped = 0;
  missedFiles = 0;
  bytes = 0;
  private readonly line = Buffer.alloc(LINE);

  constructor(readonly file: string) {}

  poll(): void {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size === this.bytes) return;
      this.bytes = size;
      if (this.firstMs === undefined && size >= LINE) {
        fs.readSync(fd, this.line, 0, LINE, 0);
        this.firstMs = parseWriterLine(this.line, 0)?.ms;
      }
      const whole = Math.floor(size / LINE);
      if (whole > 0) {
        fs.readSync(fd, this.line, 0, LINE, (whole - 1) * LINE);
        const w = this.line[LINE - 1] === LF ? parseWriterLine(this.line, 0) : undefined;
        // The size says `whole` lines; the last of them must be the writer's line whole-1.
        const ok = w !== undefined && w.seq === whole - 1;
        this.lastSeq = ok ? w.seq : -2;
        if (ok) this.kept = whole;
      }
    } finally {
      fs.closeSync(fd);
    }
  }

  close(): void {}
}
