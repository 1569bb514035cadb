/**
 * Text files the CLI reads for their meaning (a Procfile, a compose file, a Dockerfile, `.env`)
 * must be UTF-8: decoding anything else quietly turns its bytes into U+FFFD, and a process would
 * run a command nobody wrote. This finds where such a file stops being UTF-8, to name it.
 */
import { isUtf8 } from 'node:buffer';

/** The offset of the first byte that does not start (or continue) a valid UTF-8 sequence; -1 if none. */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1; // native and fast: the common case
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes, i);
    if (length === 0) return i;
    i += length;
  }
  return -1;
}

/**
 * The length of the valid UTF-8 sequence at `i`, or 0: no overlong forms, no surrogates, nothing
 * past U+10FFFF (the Unicode standard's table 3-7, as TextDecoder's `fatal` mode checks it).
 */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const lead = bytes[i]!;
  if (lead < 0x80) return 1;
  let count: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) count = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    count = 2;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    count = 3;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return 0;
  for (let k = 1; k <= count; k++) {
    const byte = bytes[i + k];
    if (byte === undefined || byte < (k === 1 ? low : 0x80) || byte > (k === 1 ? high : 0xbf)) return 0;
  }
  return count + 1;
}

/**
 * Why `bytes`, the content of the file `name`, is not UTF-8 text, naming the line and the byte
 * where it stops being so (`Procfile line 3: byte 7 (0xe9) is not UTF-8 …`); undefined when it is.
 */
export function utf8Problem(name: string, bytes: Uint8Array): string | undefined {
  const offset = invalidUtf8Offset(bytes);
  if (offset < 0) return undefined;
  // Windows editors' "Unicode": every ASCII character becomes two bytes, one of them 0.
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return `${name} is UTF-16 text (it starts with a UTF-16 byte order mark): save it as UTF-8`;
  }
  let line = 1;
  let lineStart = 0;
  // Lines end as a Procfile's do: CRLF, LF or a lone CR.
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a || (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  const hex = bytes[offset]!.toString(16).padStart(2, '0');
  return `${name} line ${line}: byte ${offset - lineStart + 1} (0x${hex}, byte ${offset + 1} of the file) is not UTF-8: save the file as UTF-8`;
}
