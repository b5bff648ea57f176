#!/usr/bin/env bash
# Run every test tier. pytest's exit code 5 ("no tests collected") is a failure here:
# a suite that silently runs nothing must never pass.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

run() {
  "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    return 1
  fi
  return "$rc"
}

# Everything but the browser tests runs under eventlet, like the services.
run "$PY" -m pytest -p no:cacheprovider -m "not browser" "$@" || exit $?
# Playwright's sync API needs an interpreter without eventlet's monkey patch.
if [ -d tests/browser ]; then
  HELPDESK_TEST_NO_GREEN=1 run "$PY" -m pytest -p no:cacheprovider tests/browser "$@" || exit $?
fi
