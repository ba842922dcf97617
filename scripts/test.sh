#!/usr/bin/env bash
# The test command of the README. pytest exits 5 when it collected no test: that is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pytest -q "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "no tests ran" >&2; exit 1; fi
exit $rc
