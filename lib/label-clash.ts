/**
 * A join token's labels and datacenter are the admin's: `agent join --label` may add labels, never
 * change one the token sets, and `--datacenter` may name the token's datacenter but no other
 * (docs/cli.md). Shared by the control plane (it refuses before the token is spent) and the CLI.
 */

/** Why `asked` cannot go with the token's `granted` labels, or undefined when nothing clashes. */
export function labelClashProblem(granted: Readonly<Record<string, string>>, asked: Readonly<Record<string, string>>): string | undefined {
  const clashes = Object.keys(asked).filter((key) => Object.hasOwn(granted, key) && granted[key] !== asked[key]);
  if (clashes.length === 0) return undefined;
  const flags = clashes.map((k) => `--label ${k}=${asked[k]}`).join(', ');
  const token = clashes.map((k) => `${k}=${granted[k]}`).join(', ');
  return `${flags}: the join token sets ${token}, and its labels cannot be changed when joining; leave the flag out (the token's value applies) or ask for a token without ${clashes.length === 1 ? 'that label' : 'those labels'}`;
}

/** Why `asked` (`--datacenter`, undefined or empty: none) cannot go with the token's `granted` datacenter (empty: none). */
export function datacenterClashProblem(granted: string, asked: string | undefined): string | undefined {
  if (!granted || !asked || granted === asked) return undefined;
  return `--datacenter ${asked}: the join token sets datacenter ${granted}, and it cannot be changed when joining; leave the flag out (the token's datacenter applies) or ask for a token without --datacenter`;
}
