/**
 * A compose file's YAML as plain values, with the line each key is written on, and the small
 * checks on those values every part of the compose reader shares. See docs/compose.md.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ComposeError } from './compose-types';

// Only strings, mappings, lists and null: `sleep 1.0` and `[sleep, 010]` keep their text, and
// `version: 3.8` stays "3.8" rather than the number 3.8.
const KEEP_TAGS = new Set(['tag:yaml.org,2002:map', 'tag:yaml.org,2002:seq', 'tag:yaml.org,2002:str', 'tag:yaml.org,2002:null']);

/** The parsed file: its value, and the 1-based line of a key path's key (0 when unknown). */
export interface ComposeYaml {
  root: unknown;
  lineOf: (keyPath: unknown[]) => number;
}

/** Parses the YAML (a leading BOM allowed); throws ComposeError naming the first syntax error's line. */
export function loadComposeYaml(text: string, fileName: string): ComposeYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text.replace(/^\uFEFF/, ''), {
    lineCounter: lines,
    merge: true, // `<<: *defaults` is common in compose files (YAML 1.1 merge keys; compose supports them)
    customTags: (tags) => tags.filter((tag) => typeof tag === 'object' && KEEP_TAGS.has(tag.tag)),
  });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line;
    const reason = yamlError.message.split(/ at line \d+, column \d+/)[0]!.split('\n')[0];
    throw new ComposeError(`${fileName}${line ? ` line ${line}` : ''}: not valid YAML: ${reason}`, undefined, line);
  }
  const lineOf = (keyPath: unknown[]): number => {
    const node = keyPath.length === 0 ? doc.contents : nodeAt(doc, keyPath);
    const offset = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    return offset === undefined ? 0 : lines.linePos(offset).line;
  };
  return { root: doc.toJS({ maxAliasCount: 1000 }), lineOf };
}

function nodeAt(doc: Document, keyPath: unknown[]): unknown {
  // The key's node, not the value's: a service's line is where its name is written.
  const parent = keyPath.length === 1 ? doc.contents : doc.getIn(keyPath.slice(0, -1), true);
  const items = (parent as { items?: Array<{ key?: { value?: unknown; range?: unknown } }> } | null)?.items;
  return items?.find((pair) => pair.key?.value === keyPath[keyPath.length - 1])?.key;
}

type Scalar = string | number | boolean | bigint;

export function isScalar(value: unknown): value is Scalar {
  return ['string', 'number', 'boolean', 'bigint'].includes(typeof value);
}

/** A single YAML value (`3.8`, `.`, `app`) as text; undefined when absent; a list or mapping is refused. */
export function scalarText(value: unknown, key: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (isScalar(value)) return String(value);
  throw new Error(`has a \`${key}\` that is a ${Array.isArray(value) ? 'list' : 'mapping'}, not a single value`);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
