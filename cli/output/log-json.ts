/**
 * `cluster logs --json` straight from a packed batch (lib/log-packing.ts) to output bytes: a
 * follower prints hundreds of thousands of lines a second, and making a string (and an object)
 * per line, then encoding it again for stdout, cost more than everything else the client does.
 * The output is byte for byte what JSON.stringify of
 * `{ time, app, instance, host, stream, source, line[, cut: true] }` and a newline gives
 * (docs/cli.md): text bytes are copied with JSON's escapes, names are quoted once and reused.
 */
import { isUtf8 } from 'node:buffer';
import { eachPacked, type UnpackedLine } from '../../lib/log-packing';

const TAB = 0x09;
const LF = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const HEX = '0123456789abcdef';
/** JSON.stringify's short escapes for control characters; the others become \u00XX. */
const SHORT_ESCAPE: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72 };

const STREAM_OF_CODE: Record<number, string> = { 0x6f: 'stdout', 0x65: 'stderr', 0x73: 'system' };
const ascii = (s: string) => Buffer.from(s, 'latin1');
/** `,"stream":"stdout","source":"app","line":` and so on, by the packed code (lower case). */
const STREAM_PART: Record<number, Buffer> = {};
for (const [code, stream] of Object.entries(STREAM_OF_CODE)) {
  STREAM_PART[Number(code)] = ascii(`,"stream":"${stream}","source":"${stream === 'system' ? 'system' : 'app'}","line":"`);
}
const TIME_START = ascii('{"time":"');
const END_PLAIN = ascii('"}\n');
const END_CUT = ascii('","cut":true}\n');

/** Turns packed batches into `--json` output; remembers names and the last time across batches. */
export class PackedJsonWriter {
  private lastMs = -1;
  private readonly lastIso = Buffer.alloc(24);
  /** `","app":"shop","instance":` … for the batch's app and host: the part between time and instance. */
  private appPart: Buffer = Buffer.alloc(0);
  private appPartKey = '';
  /** `,"host":"h"` for the batch's host. */
  private hostPart: Buffer = Buffer.alloc(0);
  private hostKey = '';
  /** Recent instance names (raw bytes) and their JSON forms. */
  private readonly names: Array<{ raw: Buffer; quoted: Buffer }> = [];

  /** `slow` formats a line the fast path does not take (never one an agent writes), as the string path does. */
  constructor(private readonly slow: (line: UnpackedLine) => string) {}

  /**
   * The output for every line of `packed` (malformed lines are skipped, as in eachPacked), in
   * a new buffer (stdout may still hold the previous one).
   */
  format(packed: Buffer, app: string, host: string): Buffer {
    // Bytes that are not UTF-8 would print as U+FFFD through a string: let the string path do it.
    if (!isUtf8(packed)) return Buffer.from(this.viaStrings(packed, app, host), 'utf8');
    this.setNames(app, host);
    const appPart = this.appPart;
    const hostPart = this.hostPart;
    // About twice the packed size for the usual lines; grown when lines need more.
    let out: Buffer = Buffer.allocUnsafe(packed.length * 2 + 4096);
    let o = 0;
    let s = 0;
    const len = packed.length;
    while (s < len) {
      let e = packed.indexOf(LF, s);
      if (e === -1) e = len;
      const t1 = packed.indexOf(TAB, s);
      const t2 = t1 === -1 || t1 >= e ? -1 : packed.indexOf(TAB, t1 + 1);
      const t3 = t2 === -1 || t2 >= e ? -1 : packed.indexOf(TAB, t2 + 1);
      const t4 = t3 === -1 || t3 >= e ? -1 : packed.indexOf(TAB, t3 + 1);
      if (t4 === -1 || t4 >= e) {
        s = e + 1; // not a line (eachPacked skips it too)
        continue;
      }
      const code = packed[t2 + 1]!;
      const lower = code | 0x20;
      const streamPart = t3 === t2 + 2 ? STREAM_PART[lower] : undefined;
      const ms = digits(packed, s, t1);
      // Room for the worst case: every text byte escaped as \u00XX.
      const need = o + 160 + appPart.length + hostPart.length + (t4 - t3) * 6 + (e - t4) * 6;
      if (need > out.length) out = this.grow(out, o, need);
      if (streamPart === undefined || ms < 0) {
        // Not what agents write (an unknown stream, a time that is not digits): as the string path prints it.
        const text = this.viaStrings(packed.subarray(s, e), app, host);
        if (o + text.length * 3 > out.length) out = this.grow(out, o, o + text.length * 3);
        o += out.write(text, o, 'utf8');
        s = e + 1;
        continue;
      }
      o += TIME_START.copy(out, o);
      if (ms !== this.lastMs) this.setIso(ms);
      o += this.lastIso.copy(out, o);
      o += appPart.copy(out, o);
      o += this.quotedName(packed, t3 + 1, t4).copy(out, o);
      o += hostPart.copy(out, o);
      o += streamPart.copy(out, o);
      for (let i = t4 + 1; i < e; i++) {
        const b = packed[i]!;
        if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) {
          out[o++] = b;
          continue;
        }
        out[o++] = BACKSLASH;
        if (b === QUOTE || b === BACKSLASH) out[o++] = b;
        else {
          const short = SHORT_ESCAPE[b];
          if (short !== undefined) out[o++] = short;
          else {
            out[o++] = 0x75; // u
            out[o++] = ZERO;
            out[o++] = ZERO;
            out[o++] = HEX.charCodeAt(b >> 4);
            out[o++] = HEX.charCodeAt(b & 15);
          }
        }
      }
      o += (code === lower ? END_PLAIN : END_CUT).copy(out, o);
      s = e + 1;
    }
    return out.subarray(0, o);
  }

  private grow(out: Buffer, used: number, need: number): Buffer {
    const bigger = Buffer.allocUnsafe(Math.max(need, out.length * 2));
    out.copy(bigger, 0, 0, used);
    return bigger;
  }

  private setIso(ms: number): void {
    this.lastMs = ms;
    this.lastIso.write(new Date(ms).toISOString(), 0, 'latin1');
  }

  private setNames(app: string, host: string): void {
    if (app !== this.appPartKey || this.appPart.length === 0) {
      this.appPartKey = app;
      this.appPart = Buffer.from(`","app":${JSON.stringify(app)},"instance":`, 'utf8');
    }
    if (host !== this.hostKey || this.hostPart.length === 0) {
      this.hostKey = host;
      this.hostPart = Buffer.from(`,"host":${JSON.stringify(host)}`, 'utf8');
    }
  }

  /** JSON form of the instance name in packed[start, end), from the few remembered. */
  private quotedName(packed: Buffer, start: number, end: number): Buffer {
    const names = this.names;
    const n = end - start;
    for (let k = 0; k < names.length; k++) {
      const raw = names[k]!.raw;
      if (raw.length !== n) continue;
      let i = 0;
      while (i < n && raw[i] === packed[start + i]) i++;
      if (i === n) return names[k]!.quoted;
    }
    const raw = Buffer.from(packed.subarray(start, end));
    const quoted = Buffer.from(JSON.stringify(raw.toString('utf8')), 'utf8');
    // A few names repeat on every line; beyond that, the oldest make room.
    if (names.length >= 16) names.shift();
    names.push({ raw, quoted });
    return quoted;
  }

  /** The string path (lib/log-packing.ts's eachPacked, then `slow` per line). */
  private viaStrings(packed: Buffer, app: string, host: string): string {
    let text = '';
    eachPacked(packed, app, host, (l) => (text += this.slow(l)));
    return text;
  }
}

/** The decimal integer in buf[start, end) when it is 1–15 digits, else -1. */
function digits(buf: Buffer, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}
