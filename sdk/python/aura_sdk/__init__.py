"""aura-host's Python SDK: helpers over the bindings componentize-py generates from the
contract (`wit/aura-host.wit`), the equivalent of the Rust SDK's: checks with expected
and actual, the plugin's TOML configuration, host errors in words, and the names of the
run's keys, topics and graph labels (`aura_sdk.names`, generated from the host's own).

A validator is a module with a `WitWorld` class (componentize-py's convention):

    import wit_world
    from wit_world.imports import types
    from aura_sdk import expect_eq

    class WitWorld(wit_world.WitWorld):
        def validate(self, ctx: types.RunContext) -> types.ValidationResult:
            return types.ValidationResult(checks=[expect_eq("answer", 42, 6 * 7)])

built with `componentize-py -d wit -w validator componentize app -p <this dir> -o app.wasm`.
"""

from .checks import expect, expect_eq, host_failure, passed, reason
from .config import config, config_error
from . import names

__all__ = [
    "config",
    "config_error",
    "expect",
    "expect_eq",
    "host_failure",
    "names",
    "passed",
    "reason",
]
