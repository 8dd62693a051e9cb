# Everyday recipes. `just --list` shows them.

# The main job: start the local environment, build the plugins, run the smoke suite.
demo:
    cargo run -p aura-host -- env up
    bash host/scripts/build-plugins.sh
    cargo run -p aura-host -- run

# Rebuild a run's summary (and --json/--junit files) from its journal.
report RUN *ARGS:
    cargo run -p aura-host -- report --run {{RUN}} {{ARGS}}

# The whole test suite against real local services (started on demand).
test:
    cargo test

# What CI runs: format, lints, tests, then stop the services.
ci:
    bash .ci/run

# Build the plugins (and the hostile test plugin) as WebAssembly components.
plugins *ARGS:
    bash host/scripts/build-plugins.sh {{ARGS}}

# Regenerate the JS SDK's TypeScript types (sdk/js/types) from the WIT, after changing it.
js-types:
    bash host/scripts/js-types.sh

env-up:
    cargo run -p aura-host -- env up

env-down:
    cargo run -p aura-host -- env down

check:
    cargo run -p aura-host -- check
