/**
 * Whether a 5-field cron expression can never fire, and why: its days of the month exist in none
 * of its months (`0 3 30 2 *`: February has no 30th). croner would accept it and never give a
 * next run, so a job added with it would wait for ever. Only the day of the month can do that:
 * when the day of week is restricted too, either field matching fires (as in cron), and any
 * weekday comes round in any month. Reads fields that cron-fields.ts has checked.
 */

const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const MONTH_ABBREVIATIONS = MONTH_NAMES.map((m) => m.slice(0, 3).toUpperCase());
/** The longest each month gets: February has a 29th in leap years, which a job may wait for. */
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `never fires: February has no 30th`-style reason, or undefined when the expression fires. */
export function neverFiresReason(fields: readonly string[]): string | undefined {
  const [, , dayField, monthField, weekdayField] = fields;
  if (dayField === undefined || monthField === undefined || weekdayField === undefined) return undefined;
  // croner applies the day of the month alone only when the day of week is `*` (or `?`).
  if (weekdayField !== '*' && weekdayField !== '?') return undefined;
  const days = valuesOf(dayField, 1, 31);
  const months = valuesOf(monthField, 1, 12, MONTH_ABBREVIATIONS);
  if (days.length === 0 || months.length === 0) return undefined;
  if (months.some((month) => days.some((day) => day <= DAYS_IN_MONTH[month - 1]!))) return undefined;
  const names = months.map((month) => MONTH_NAMES[month - 1]!);
  const verb = names.length === 1 ? 'has' : 'have';
  return `${joinWith(names, 'and')} ${verb} no ${joinWith(days.map(ordinal), 'or')}`;
}

/** The values a field's list of items, ranges and steps selects, sorted; names count from `min`. */
function valuesOf(field: string, min: number, max: number, names: readonly string[] = []): number[] {
  const selected = new Set<number>();
  const valueOf = (text: string) => {
    const named = names.indexOf(text.toUpperCase());
    return named >= 0 ? named + min : Number(text);
  };
  for (const item of field.split(',')) {
    const [range = '', stepText] = item.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let [from, to] = [min, max];
    if (range !== '*' && range !== '?') {
      const ends = range.split('-');
      from = valueOf(ends[0]!);
      // `5/10` is 5, 15, 25 … as in cron: a step runs to the field's end.
      to = ends.length > 1 ? valueOf(ends[1]!) : stepText === undefined ? from : max;
    }
    if (!(Number.isInteger(from) && Number.isInteger(to) && step >= 1)) return [];
    for (let v = from; v <= to; v += step) selected.add(v);
  }
  return [...selected].sort((a, b) => a - b);
}

function ordinal(n: number): string {
  const suffix = n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

/** `a`, `a and b`, `a, b and c`. */
function joinWith(items: readonly string[], last: string): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} ${last} ${items[items.length - 1]}`;
}
