/**
 * Finds where a 5-field cron expression goes wrong, with the field's name, its position
 * (1-based column in the expression) and what is wrong. croner checks expressions, but its
 * messages name no position (and count days from 0): this is only for the message.
 */

interface Field {
  name: string;
  min: number;
  max: number;
  /** The largest step croner takes: the field's number of values (7 days: 0 and 7 are one). */
  maxStep: number;
  names?: string[];
}

const FIELDS: Field[] = [
  { name: 'minute', min: 0, max: 59, maxStep: 60 },
  { name: 'hour', min: 0, max: 23, maxStep: 24 },
  { name: 'day of month', min: 1, max: 31, maxStep: 31 },
  { name: 'month', min: 1, max: 12, maxStep: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  // 7 is Sunday too, as in Vixie cron.
  { name: 'day of week', min: 0, max: 7, maxStep: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

export const FIELD_NAMES = FIELDS.map((f) => f.name);

/** A field of an expression, as typed, and the column where it starts (1-based). */
export interface FieldText {
  text: string;
  column: number;
}

/** Splits an expression on blanks, keeping where each field starts. */
export function splitFields(expression: string): FieldText[] {
  return [...expression.matchAll(/\S+/g)].map((m) => ({ text: m[0], column: (m.index ?? 0) + 1 }));
}

/** One value of a field: a number or (month, weekday) a name. */
function valueProblem(field: Field, text: string): string | undefined {
  const named = field.names?.indexOf(text.toUpperCase()) ?? -1;
  if (named >= 0) return undefined;
  if (!/^\d+$/.test(text)) {
    const hint = field.names ? ` (or a name such as ${field.names[0]})` : '';
    return `\`${text}\` is not a number${hint}`;
  }
  const n = Number(text);
  if (n < field.min || n > field.max) return `${n} is out of range ${field.min}–${field.max}`;
  return undefined;
}

/** What is wrong with one field's text, or undefined when it reads well. */
export function fieldProblem(index: number, text: string): string | undefined {
  const field = FIELDS[index]!;
  for (const item of text.split(',')) {
    if (item === '') return 'an empty list item (two commas, or a comma at an end)';
    const [range, step, extra] = item.split('/');
    if (extra !== undefined) return `\`${item}\` has two steps`;
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `the step \`${step}\` must be a whole number from 1`;
    if (step !== undefined && Number(step) > field.maxStep) return `the step \`${step}\` must be at most ${field.maxStep}`;
    if (range === '*' || (index >= 2 && range === '?')) continue;
    const ends = range!.split('-');
    if (ends.length > 2) return `\`${range}\` is not a range like 1-5`;
    for (const end of ends) {
      const problem = valueProblem(field, end);
      if (problem) return problem;
    }
  }
  return undefined;
}

/** `the day of month field (column 7, \`32\`): 32 is out of range 1–31`, or undefined. */
export function describeFieldProblem(expression: string): string | undefined {
  const fields = splitFields(expression);
  for (let i = 0; i < Math.min(fields.length, FIELDS.length); i++) {
    const problem = fieldProblem(i, fields[i]!.text);
    if (problem) return `the ${FIELDS[i]!.name} field (field ${i + 1}, column ${fields[i]!.column}, \`${fields[i]!.text}\`): ${problem}`;
  }
  return undefined;
}
