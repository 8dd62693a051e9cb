#!/usr/bin/env bash
# Builds the plugins as WebAssembly components (a wasm32-wasip2 cdylib is a component):
# the shipped ones and the hostile test plugins (a validator, a generator, a recovery
# strategy) the sandbox tests load.
# Usage: build-plugins.sh [extra cargo build args...]
set -euo pipefail
cd "$(dirname "$0")/../.."

target=wasm32-wasip2
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

cargo build --release --target "$target" \
  -p smoke-validator \
  -p exponential-backoff \
  -p burst-generator \
  -p decision-persistence -p context-caching -p event-propagation \
  -p flow-timing -p council-consensus -p workflow-state \
  -p circuit-breaker \
  -p hostile-plugin -p hostile-generator -p hostile-recovery -p bench-probe \
  "$@"
