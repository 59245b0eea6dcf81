#!/usr/bin/env bash
# From a fresh clone to a working checkout: prepares the host (scripts/bootstrap-host.sh,
# which takes the same arguments, e.g. --stand-ins) and installs the pipeline with its
# test dependencies into .venv. Idempotent; a rerun takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap-host.sh "$@"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
echo "setup: installing the pipeline into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
