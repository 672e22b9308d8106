#!/usr/bin/env bash
# Every npm script comes through here: node_modules is brought in line with package-lock.json, then the command runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# npm rewrites node_modules/.package-lock.json on every install, so it is older than the lockfile only when deps changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` installs exactly what the lockfile pins; `npm ci` refuses this lockfile here, because this
  # machine's registry leaves other platforms' optional binaries (@swc/core-darwin-*, …) out of it.
  echo "[npm-entry] node_modules is missing or older than package-lock.json: npm install" >&2
  npm install --no-audit --no-fund
  touch node_modules/.package-lock.json
fi

command="${1:-}"
shift || true
if [ "${1:-}" = "--" ]; then shift; fi

# The long-running commands exec the project's tsx directly rather than through npx: npx would forward a
# Ctrl-C a second time and then kill itself with it, hiding the clean exit status of the process it ran.
tsx=node_modules/.bin/tsx
case "$command" in
  start)        exec "$tsx" scripts/start.ts ;;
  api)          exec "$tsx" api/main.ts ;;
  worker)       exec "$tsx" workers/main.ts ;;
  bench)        exec "$tsx" scripts/bench.ts "$@" ;;
  chaos)        exec "$tsx" scripts/chaos.ts "$@" ;;
  ledger-check) exec "$tsx" scripts/ledger-check.ts ;;
  test)
    "$tsx" scripts/stack/install.ts   # MariaDB's packages and the temporal CLI, when missing
    npx tsc --noEmit -p .
    exec npx jest "$@"
    ;;
  *)
    echo "usage: bash scripts/npm-entry.sh start|api|worker|bench|chaos|ledger-check|test [args…]" >&2
    exit 64
    ;;
esac
