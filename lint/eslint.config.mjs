// @ts-check
// ESLint with typescript-eslint's type-aware rules (docs/linting.md). Run from the repository
// root by scripts/lint.sh: `lint/node_modules/.bin/eslint --config lint/eslint.config.mjs .`
// (with --config, file patterns are relative to the working directory: the repository root).
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // proto/gen is generated at build; examples/ are users' apps, not ours.
  { ignores: ['proto/gen/**', 'dist/**', '**/node_modules/**', 'examples/**', 'lint/**'] },
  {
    files: ['{proto,lib,control-plane,agent,cli,scripts,test,bench}/**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // One program from the repository's tsconfig.json, which includes every file linted here:
      // ~15 % less CPU than the project service (docs/linting.md).
      parserOptions: { project: ['./tsconfig.json'], tsconfigRootDir: fileURLToPath(new URL('..', import.meta.url)) },
    },
    rules: {
      // The rules this linter is here for: a promise nobody awaits or handles turns a failure
      // into an unhandled rejection, which ends a Node process. `void p` does not handle
      // anything either, so it is not accepted as a way out (ignoreVoid: false): handle the
      // rejection (`.catch(…)`) or await. node:test's test()/describe() return promises the
      // runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          ignoreVoid: false,
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // The code writes `xs[i]!` where it knows the index is in range, as a note to the reader
      // and so it stays correct under noUncheckedIndexedAccess; tsconfig.json does not turn
      // that option on, so this rule would strip every one of them. It catches no bug.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // An async function without await is how this code implements a Promise-returning
      // interface (gRPC handlers wrapped by unary(), fakes in tests): `async` also turns a
      // synchronous throw into a rejection, which those callers rely on.
      '@typescript-eslint/require-await': 'off',
      // `require()` is how a module is loaded on demand, synchronously: a CLI command or a daemon
      // loads gRPC, x509, prom-client… only when it uses them (bench/RESULTS.md, "CLI start"). Its type
      // comes from `typeof import(…)`, so nothing is untyped.
      '@typescript-eslint/no-require-imports': 'off',
      // Rejecting with an Error stays required; passing on a caught value (`unknown`) as it is
      // is allowed, as `throw err` in a catch block is.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A closure that reads a variable assigned later (a callback wired before the object it
      // calls exists) needs `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
);
