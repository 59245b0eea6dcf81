#!/usr/bin/env bash
# From a fresh clone to a working checkout: prepares the host (scripts/bootstrap-host.sh,
# which takes the same arguments, e.g. --stand-ins) and installs the pipeline with its
# test dependencies into .venv. Idempotent; a rerun takes seconds.
#
# Usage: scripts/setup.sh [--stand-ins]     (as root; see scripts/bootstrap-host.sh --help)
# Hosts: Debian 12, Debian 13, Ubuntu 24.04.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for arg in "$@"; do
    case $arg in
        -h|--help)
            sed -n '2,7p' scripts/setup.sh | sed 's/^# \{0,1\}//'
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
echo "setup: installing the pipeline into .venv"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
