/** What every command says of an app whose code was never deployed, and what to do: one wording in the CLI and the control plane. */
export function noReleaseYet(app: string): string {
  return `app \`${app}\` has no release deployed yet: deploy its code with \`cluster deploy DIR -a ${app}\``;
}
