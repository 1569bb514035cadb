/** A compose service's `environment:` as defaults that config vars override. See docs/compose.md. */
import type { EnvDefault } from './compose-start';
import { isMapping } from './compose-yaml';
import { nulByte } from './nul-byte';

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `environment:` as a mapping (`KEY: value`) or a list (`- KEY=value`, `- KEY`); a key without a
 * value has none (null). Throws an Error whose message continues "service `NAME` …" when unusable.
 */
export function environmentOf(value: unknown): EnvDefault[] {
  if (value === undefined || value === null) return [];
  const entries: EnvDefault[] = [];
  const add = (key: string, raw: unknown) => {
    if (!ENV_KEY.test(key)) throw new Error(`has an \`environment\` key \`${key}\` that is not a variable name: use letters, digits and underscores, not starting with a digit`);
    if (raw !== null && raw !== undefined && typeof raw !== 'string') throw new Error(`has an \`environment\` value for ${key} that is not a string`);
    const nul = typeof raw === 'string' ? nulByte(raw) : undefined;
    if (nul) throw new Error(`has an \`environment\` value for ${key} with ${nul}`);
    // `$$` is Compose's escape for `$`; the value is otherwise taken as written.
    entries.push({ key, value: raw === null || raw === undefined ? null : raw.replace(/\$\$/g, '$') });
  };
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item !== 'string') throw new Error('has an `environment` list with an item that is not `KEY=value`');
      const eq = item.indexOf('=');
      if (eq < 0) add(item, null);
      else add(item.slice(0, eq), item.slice(eq + 1));
    }
  } else if (isMapping(value)) {
    for (const [key, raw] of Object.entries(value)) add(key, raw);
  } else {
    throw new Error('has an `environment` that is neither a mapping nor a list of `KEY=value`');
  }
  return entries;
}
