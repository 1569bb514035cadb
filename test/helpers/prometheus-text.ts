/**
 * Parses Prometheus text exposition with `parse-prometheus-text-format` (its sample-line grammar
 * is a port of the reference Python client's parser; it throws on a malformed line).
 *
 * Its grouping of histogram lines keeps only histograms without labels (labelled ones lose
 * their _count, _sum and labels), so series are read here one line at a time through the same
 * parser, and families (name, type, help) from a parse of the whole text.
 */
import { createRequire } from 'node:module';

interface ParsedFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}

const parser = createRequire(__filename)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

export interface Series {
  /** The sample's own name: a histogram's `x_bucket`, `x_sum`, `x_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Family name → type (COUNTER, GAUGE, HISTOGRAM …) and help. */
  families: Map<string, { type: ParsedFamily['type']; help: string }>;
  series: Series[];
}

/** Parses a whole scrape; throws on any malformed line. */
export function parseScrape(text: string): Scrape {
  const families = new Map(parser(text).map((f) => [f.name, { type: f.type, help: f.help }]));
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [one] = parser(`${line}\n`); // (the parser writes a family out at the line after it)
    const m = one?.metrics[0];
    if (!one || !m || m.value === undefined) throw new Error(`cannot parse the sample line ${JSON.stringify(line)}`);
    series.push({ name: one.name, labels: m.labels ?? {}, value: Number(m.value) });
  }
  return { families, series };
}

/** The type of family `name`; throws naming it when absent. */
export function typeOf(scrape: Scrape, name: string): string {
  const f = scrape.families.get(name);
  if (!f) throw new Error(`no metric ${name} in the scrape (has: ${[...scrape.families.keys()].join(', ')})`);
  return f.type;
}

/** Series named `name` whose labels include all of `labels`. */
export function find(scrape: Scrape, name: string, labels: Record<string, string> = {}): Series[] {
  return scrape.series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one series matching (undefined when none; throws when several). */
export function valueOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = find(scrape, name, labels);
  if (found.length > 1) throw new Error(`${name}: ${found.length} series match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
