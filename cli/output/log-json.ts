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
/** 10000-01-01T00:00:00.000Z: from here on an ISO time is longer than 24 bytes. */
const MAX_FAST_MS = 253_402_300_800_000;
/** JSON.stringify's short escapes for control characters; the others become \u00XX. */
const SHORT_ESCAPE: Record<number, number> = { 0x08: 0x62, 0x09: 0x74, 0x0a: 0x6e, 0x0c: 0x66, 0x0d: 0x72 };

const STREAM_OF_CODE: Record<number, string> = { 0x6f: 'stdout', 0x65: 'stderr', 0x73: 'system' };
const ascii = (s: string) => Buffer.from(s, 'latin1');
/** `,"stream":"stdout","source":"app","line":"` and so on, by stream index. */
const STREAM_PARTS = Object.values(STREAM_OF_CODE).map((stream) => ascii(`,"stream":"${stream}","source":"${stream === 'system' ? 'system' : 'app'}","line":"`));
/** The stream index of a packed code (lower case), else undefined. */
const STREAM_INDEX: Record<number, number> = {};
for (const [k, code] of Object.keys(STREAM_OF_CODE).entries()) STREAM_INDEX[Number(code)] = k;
const TIME_START = ascii('{"time":"');
/** Bytes JSON escapes in a string (1) and bytes it copies as they are (0). */
const NEEDS_ESCAPE = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) NEEDS_ESCAPE[b] = 1;
NEEDS_ESCAPE[QUOTE] = 1;
NEEDS_ESCAPE[BACKSLASH] = 1;

/** An instance name seen lately: its bytes, and per stream everything a line prints before its text. */
interface NameEntry {
  raw: Buffer;
  /** `{"time":"…","app":…,"instance":…,"host":…,"stream":…,"source":…,"line":"`, made when first needed. */
  prefixes: Array<Buffer | undefined>;
  /** The time each prefix holds (rewritten in place when it changes: ISO times are all 24 bytes). */
  prefixMs: number[];
}
const END_PLAIN = ascii('"}\n');
const END_CUT = ascii('","cut":true}\n');

/** Turns packed batches into `--json` output; remembers names and the last time across batches. */
export class PackedJsonWriter {
  private lastMs = -1;
  private lastIso = '';
  /** `","app":"shop","instance":` for the batch's app, and `,"host":"h"` for its host. */
  private namesPart: Buffer = Buffer.alloc(0);
  private hostPart: Buffer = Buffer.alloc(0);
  private appKey = '';
  private hostKey = '';
  /** Recent instance names and the prefixes of their lines. */
  private names: NameEntry[] = [];
  /** The buffer behind the last result, and one given back (recycle) for the next batch. */
  private lent: Buffer | undefined;
  private spare: Buffer | undefined;

  /** `slow` formats a line the fast path does not take (never one an agent writes), as the string path does. */
  constructor(private readonly slow: (line: UnpackedLine) => string) {}

  /**
   * The output for every line of `packed` (malformed lines are skipped, as in eachPacked). The
   * bytes stay untouched until they are given back with recycle() (stdout may still hold them).
   */
  format(packed: Buffer, app: string, host: string): Buffer {
    // Bytes that are not UTF-8 would print as U+FFFD through a string: let the string path do it.
    if (!isUtf8(packed)) return Buffer.from(this.viaStrings(packed, app, host), 'utf8');
    this.setNames(app, host);
    // About twice the packed size for the usual lines; grown when lines need more.
    let out = this.take(packed.length * 2 + 4096);
    let o = 0;
    let s = 0;
    const len = packed.length;
    while (s < len) {
      let e = packed.indexOf(LF, s);
      if (e === -1) e = len;
      // The header's tabs, and the time's digits on the way (fields are short: no native calls).
      let ms = 0;
      let t1 = s;
      while (t1 < e && packed[t1] !== TAB) {
        const d = packed[t1]! - ZERO;
        ms = d >= 0 && d <= 9 && ms >= 0 ? ms * 10 + d : -1;
        t1++;
      }
      // ISO times of years 0–9999 are 24 bytes (the prefixes count on it); later ones take the slow path.
      if (t1 === s || t1 - s > 15 || ms >= MAX_FAST_MS) ms = -1;
      const t2 = tabAt(packed, t1 + 1, e);
      const t3 = t2 === -1 ? -1 : tabAt(packed, t2 + 1, e);
      const t4 = t3 === -1 ? -1 : tabAt(packed, t3 + 1, e);
      if (t1 >= e || t4 === -1) {
        s = e + 1; // not a line (eachPacked skips it too)
        continue;
      }
      const code = packed[t2 + 1]!;
      const lower = code | 0x20;
      const streamIndex = t3 === t2 + 2 ? STREAM_INDEX[lower] : undefined;
      // Room for the worst case: every text byte escaped as \u00XX.
      const need = o + 200 + this.namesPart.length + this.hostPart.length + (t4 - t3) * 6 + (e - t4) * 6;
      if (need > out.length) out = this.grow(out, o, need);
      if (streamIndex === undefined || ms < 0) {
        // Not what agents write (an unknown stream, a time that is not digits): as the string path prints it.
        const text = this.viaStrings(packed.subarray(s, e), app, host);
        if (o + text.length * 3 > out.length) out = this.grow(out, o, o + text.length * 3);
        o += out.write(text, o, 'utf8');
        s = e + 1;
        continue;
      }
      const prefix = this.prefix(packed, t3 + 1, t4, streamIndex, ms);
      out.set(prefix, o);
      o += prefix.length;
      for (let i = t4 + 1; i < e; i++) {
        const b = packed[i]!;
        if (NEEDS_ESCAPE[b] === 0) out[o++] = b;
        else o = escapeByte(out, o, b);
      }
      const end = code === lower ? END_PLAIN : END_CUT;
      for (let i = 0; i < end.length; i++) out[o++] = end[i]!;
      s = e + 1;
    }
    this.lent = out;
    return out.subarray(0, o);
  }

  /** Gives back what format() returned once it is written: the next batch reuses its memory. */
  recycle(bytes: Buffer): void {
    if (this.lent !== undefined && bytes.buffer === this.lent.buffer) {
      this.spare = this.lent;
      this.lent = undefined;
    }
  }

  private take(min: number): Buffer {
    const spare = this.spare;
    this.spare = undefined;
    // Room for any agent batch (about 64 KiB packed) at once, so the spare fits the next one.
    return spare !== undefined && spare.length >= min ? spare : Buffer.allocUnsafeSlow(Math.max(min, 256 * 1024));
  }

  private grow(out: Buffer, used: number, need: number): Buffer {
    const bigger = Buffer.allocUnsafeSlow(Math.max(need, out.length * 2));
    out.copy(bigger, 0, 0, used);
    return bigger;
  }

  private setNames(app: string, host: string): void {
    if (app === this.appKey && host === this.hostKey && this.namesPart.length > 0) return;
    this.appKey = app;
    this.hostKey = host;
    this.namesPart = Buffer.from(`","app":${JSON.stringify(app)},"instance":`, 'utf8');
    this.hostPart = Buffer.from(`,"host":${JSON.stringify(host)}`, 'utf8');
    this.names = []; // their prefixes hold the old app and host
  }

  /** What a line of this instance, stream and time prints before its text. */
  private prefix(packed: Buffer, start: number, end: number, streamIndex: number, ms: number): Buffer {
    const entry = this.nameEntry(packed, start, end);
    let prefix = entry.prefixes[streamIndex];
    if (prefix === undefined) {
      const quoted = JSON.stringify(entry.raw.toString('utf8'));
      prefix = Buffer.concat([TIME_START, Buffer.from(this.iso(ms), 'latin1'), this.namesPart, Buffer.from(quoted, 'utf8'), this.hostPart, STREAM_PARTS[streamIndex]!]);
      entry.prefixes[streamIndex] = prefix;
      entry.prefixMs[streamIndex] = ms;
    } else if (entry.prefixMs[streamIndex] !== ms) {
      prefix.write(this.iso(ms), TIME_START.length, 'latin1');
      entry.prefixMs[streamIndex] = ms;
    }
    return prefix;
  }

  private iso(ms: number): string {
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }

  /** The entry of the instance name in packed[start, end), from the few remembered. */
  private nameEntry(packed: Buffer, start: number, end: number): NameEntry {
    const names = this.names;
    const n = end - start;
    for (let k = 0; k < names.length; k++) {
      const raw = names[k]!.raw;
      if (raw.length !== n) continue;
      let i = 0;
      while (i < n && raw[i] === packed[start + i]) i++;
      if (i === n) return names[k]!;
    }
    // A few names repeat on every line; beyond that, the oldest make room.
    if (names.length >= 16) names.shift();
    const entry: NameEntry = { raw: Buffer.from(packed.subarray(start, end)), prefixes: [undefined, undefined, undefined], prefixMs: [-1, -1, -1] };
    names.push(entry);
    return entry;
  }

  /** The string path (lib/log-packing.ts's eachPacked, then `slow` per line). */
  private viaStrings(packed: Buffer, app: string, host: string): string {
    let text = '';
    eachPacked(packed, app, host, (l) => (text += this.slow(l)));
    return text;
  }
}

/** The first tab in buf[from, end), or -1. */
function tabAt(buf: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === TAB) return i;
  return -1;
}

/** JSON's escape of a quote, a backslash or a control character, written at o; returns the new end. */
function escapeByte(out: Buffer, o: number, b: number): number {
  out[o++] = BACKSLASH;
  if (b === QUOTE || b === BACKSLASH) {
    out[o++] = b;
    return o;
  }
  const short = SHORT_ESCAPE[b];
  if (short !== undefined) {
    out[o++] = short;
    return o;
  }
  out[o++] = 0x75; // u
  out[o++] = ZERO;
  out[o++] = ZERO;
  out[o++] = HEX.charCodeAt(b >> 4);
  out[o++] = HEX.charCodeAt(b & 15);
  return o;
}
