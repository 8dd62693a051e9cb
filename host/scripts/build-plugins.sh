#!/usr/bin/env bash
# Builds the plugins as WebAssembly components (a wasm32-wasip2 cdylib is a component):
# the shipped ones and the hostile test plugins (a validator, a generator, a recovery
# strategy) the sandbox tests load; then the Python plugins (plugins/python/*,
# host/tests/python-plugins/*) with componentize-py (PyPI, pinned) and the Python SDK,
# and the JavaScript ones (plugins/js/*, host/tests/js-plugins/*) with componentize-js
# (npm, pinned) and the JS SDK.
# Usage: build-plugins.sh [extra cargo build args...]
#        build-plugins.sh --tools   (only install componentize-py, componentize-js, jco, tsc)
set -euo pipefail
cd "$(dirname "$0")/../.."

# The Python and JavaScript plugin toolchains, pinned, installed once under target/.
componentize_py=componentize-py==0.25.1
tools=target/plugin-tools
js_tools=$tools/js
js_packages=("@bytecodealliance/componentize-js@0.23.0" "smol-toml@1.6.0" "@bytecodealliance/jco@1.15.0" "typescript@7.0.2")
install_tools() {
  if [ ! -x "$tools/bin/componentize-py" ] || ! "$tools/bin/componentize-py" --version | grep -q "${componentize_py#*==}"; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --disable-pip-version-check --quiet "$componentize_py"
  fi
  if [ ! -x "$js_tools/node_modules/.bin/componentize-js" ] || [ ! -x "$js_tools/node_modules/.bin/jco" ] || [ ! -x "$js_tools/node_modules/.bin/tsc" ]; then
    mkdir -p "$js_tools"
    (cd "$js_tools" && echo '{"private": true}' > package.json \
      && npm install --no-audit --no-fund --silent "${js_packages[@]}")
  fi
}
if [ "${1:-}" = "--tools" ]; then
  install_tools
  exit 0
fi

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
  -p hostile-plugin -p hostile-generator -p hostile-recovery -p bench-probe -p contract-v0-1 \
  "$@"

# Python plugins: each directory has an app.py and a plugin.toml naming its world.
install_tools
out=target/$target/release
for dir in plugins/python/*/ host/tests/python-plugins/*/; do
  [ -f "$dir/app.py" ] || continue
  name=$(basename "$dir")
  wasm=$out/$name.wasm
  # Rebuilt when the plugin, the SDK or the contract changed (a build takes seconds).
  if [ -f "$wasm" ] && [ -z "$(find "$dir" sdk/python wit -newer "$wasm" -type f -print -quit)" ]; then
    continue
  fi
  world=$(sed -n 's/^world *= *"\(.*\)"/\1/p' "$dir/plugin.toml")
  "$tools/bin/componentize-py" -d wit -w "${world:?no world in $dir/plugin.toml}" componentize app \
    -p "$dir" -p sdk/python -o "$wasm.tmp"
  mv "$wasm.tmp" "$wasm"
done

# JavaScript plugins: each directory has an app.js and a plugin.toml naming its world; it
# is built from a staging copy with the SDK (and smol-toml, its TOML parser) beside it.
# WASI HTTP is left out: a JS plugin has no network, like every other.
for dir in plugins/js/*/ host/tests/js-plugins/*/; do
  [ -f "$dir/app.js" ] || continue
  name=$(basename "$dir")
  wasm=$out/$name.wasm
  if [ -f "$wasm" ] && [ -z "$(find "$dir" sdk/js wit -newer "$wasm" -type f -print -quit)" ]; then
    continue
  fi
  world=$(sed -n 's/^world *= *"\(.*\)"/\1/p' "$dir/plugin.toml")
  stage=target/js-build/$name
  rm -rf "$stage" && mkdir -p "$stage"
  cp -r "$dir"/. "$stage"/
  cp -r sdk/js/aura_sdk "$stage/aura_sdk"
  cp -r "$js_tools/node_modules/smol-toml/dist" "$stage/aura_sdk/smol-toml"
  "$js_tools/node_modules/.bin/componentize-js" --wit wit --world-name "${world:?no world in $dir/plugin.toml}" \
    --disable http fetch-event --out "$wasm.tmp" "$stage/app.js" > /dev/null
  mv "$wasm.tmp" "$wasm"
done
