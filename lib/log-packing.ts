/**
 * Log lines packed into one bytes field of a LogBatch (proto/logs.proto): one protobuf message
 * per line costs far more than the line itself, so agents send runs of lines as text and the
 * control plane forwards them without looking inside. Per line:
 *
 *   time_ms \t seq \t code \t instance \t text \n
 *
 * `code` is o, e or s (stdout, stderr, system), upper case for a cut piece. The app and the host
 * are the batch's. Text is last: it may hold tabs, never a newline. See docs/logs.md.
 */

/** One line as packed (a subset of the wire LogLine; time and seq are integers). */
export interface PackableLine {
  timeMs: number;
  seq: number;
  instance: string;
  stream: string;
  text: string;
  cut: boolean;
}

/** A packed line, unpacked: the wire LogLine's fields. */
export interface UnpackedLine {
  time_ms: number;
  seq: number;
  app: string;
  instance: string;
  stream: string;
  text: string;
  cut: boolean;
  host: string;
}

const CODE: Record<string, string> = { stdout: 'o', stderr: 'e', system: 's' };
const STREAM: Record<string, string> = { o: 'stdout', e: 'stderr', s: 'system' };

/** Packs lines; a text's newline (never stored, but system lines are ours) becomes a space. */
export function packLines(lines: readonly PackableLine[]): Buffer {
  let s = '';
  for (const l of lines) {
    const code = CODE[l.stream] ?? 's';
    const text = l.text.includes('\n') ? l.text.replace(/\r?\n/g, ' ') : l.text;
    s += `${l.timeMs}\t${l.seq}\t${l.cut ? code.toUpperCase() : code}\t${l.instance}\t${text}\n`;
  }
  return Buffer.from(s, 'utf8');
}

/** Calls `each` for every line of a packed buffer, in order; malformed lines are skipped. */
export function eachPacked(packed: Buffer, app: string, host: string, each: (line: UnpackedLine) => void): void {
  const s = packed.toString('utf8');
  let start = 0;
  while (start < s.length) {
    let end = s.indexOf('\n', start);
    if (end === -1) end = s.length;
    const t1 = s.indexOf('\t', start);
    const t2 = t1 === -1 ? -1 : s.indexOf('\t', t1 + 1);
    const t3 = t2 === -1 ? -1 : s.indexOf('\t', t2 + 1);
    const t4 = t3 === -1 ? -1 : s.indexOf('\t', t3 + 1);
    if (t4 !== -1 && t4 < end && t3 === t2 + 2) {
      const code = s[t2 + 1]!;
      const lower = code.toLowerCase();
      each({
        time_ms: Number(s.slice(start, t1)),
        seq: Number(s.slice(t1 + 1, t2)),
        app,
        instance: s.slice(t3 + 1, t4),
        stream: STREAM[lower] ?? 'system',
        text: s.slice(t4 + 1, end),
        cut: code !== lower,
        host,
      });
    }
    start = end + 1;
  }
}

/** Every line of a packed buffer. */
export function unpackLines(packed: Buffer, app: string, host: string): UnpackedLine[] {
  const out: UnpackedLine[] = [];
  eachPacked(packed, app, host, (l) => out.push(l));
  return out;
}
