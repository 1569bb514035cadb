#!/usr/bin/env bash
# Set-up, then a whole cluster on this machine with the example app (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/cli/main.js dev "$@"
