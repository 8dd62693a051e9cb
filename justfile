# Everyday recipes. `just --list` shows them.

# Build, start the local environment and check it (the main job).
demo:
    cargo run -p aura-host -- env up
    cargo run -p aura-host -- check

# The whole test suite against real local services (started on demand).
test:
    cargo test

# What CI runs: format, lints, tests, then stop the services.
ci:
    bash .ci/run

# Build the shipped plugins as WebAssembly components.
plugins:
    rustup target add wasm32-wasip2
    cargo build --release --target wasm32-wasip2 -p smoke-validator

env-up:
    cargo run -p aura-host -- env up

env-down:
    cargo run -p aura-host -- env down

check:
    cargo run -p aura-host -- check
