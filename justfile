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

# Build the plugins (and the hostile test plugin) as WebAssembly components.
plugins *ARGS:
    bash host/scripts/build-plugins.sh {{ARGS}}

env-up:
    cargo run -p aura-host -- env up

env-down:
    cargo run -p aura-host -- env down

check:
    cargo run -p aura-host -- check
