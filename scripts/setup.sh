#!/usr/bin/env bash
# From a fresh clone to a working checkout: prepares the host (scripts/bootstrap-host.sh,
# which takes the same arguments, e.g. --stand-ins) and installs the pipeline with its
# test dependencies (requirements/test.txt: locked, by hash) into .venv. Idempotent; a
# rerun takes seconds.
#
# Usage: scripts/setup.sh [--stand-ins]     (as root; see scripts/bootstrap-host.sh --help)
# Hosts: Debian 12, Debian 13, Ubuntu 24.04.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for arg in "$@"; do
    case $arg in
        -h|--help)
            sed -n '2,8p' scripts/setup.sh | sed 's/^# \{0,1\}//'
            echo
            bash scripts/bootstrap-host.sh --help
            exit 0 ;;
    esac
done
bash scripts/bootstrap-host.sh "$@"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
# The dependencies exactly as CI installs them (the lock, every file checked by its hash),
# then the pipeline itself, which then needs nothing more (see docs/ci.md, "The lock").
echo "setup: installing the locked dependencies (requirements/test.txt) and the pipeline into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/test.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
