/**
 * The system line that stands for lines log rotation removed before a reader reached them
 * (docs/logs.md). Readers that count lines (`-n`) never count it: it is not one of the lines.
 */

/** The marker's text for `count` lines. */
export function rotatedText(count: number): string {
  return `${count} line${count === 1 ? '' : 's'} missed (removed by log rotation before the reader got to them)`;
}

/** Whether a line is such a marker. */
export function isRotationMarker(line: { stream: string; text: string }): boolean {
  return line.stream === 'system' && line.text.includes('(removed by log rotation');
}
