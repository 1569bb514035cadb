#!/usr/bin/env bash
# Everything the project needs on a fresh Debian machine with Node 20: etcd, packages, a build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Installs Debian packages (as root, or through sudo).
apt_install() {
  local sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

if ! command -v etcd >/dev/null 2>&1; then
  echo "setup: installing etcd-server (apt-get)…" >&2
  apt_install etcd-server
  # The package starts a system etcd; the tests and `cluster dev` start their own.
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd systemctl disable --now etcd >/dev/null 2>&1 || true
fi

# The dashboard's browser tests drive Debian's Chromium with playwright-core (no browser download).
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium for the dashboard's browser tests (apt-get)…" >&2
  apt_install chromium
fi

# The shells whose completion scripts the tests run (test/unit/completion.test.ts).
for shell in zsh fish; do
  if ! command -v "$shell" >/dev/null 2>&1; then
    echo "setup: installing $shell for the tests (apt-get)…" >&2
    apt_install "$shell"
  fi
done

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

# The linter has packages of its own (lint/package.json: it type-checks with TypeScript 6,
# the build uses TypeScript 7; docs/linting.md).
if [ ! -d lint/node_modules ] || [ lint/package-lock.json -nt lint/node_modules/.package-lock.json ]; then
  echo "setup: installing the linter (npm ci --prefix lint)…" >&2
  npm ci --prefix lint --no-audit --no-fund --loglevel=error
fi

echo "setup: building…" >&2
npm run --silent build
