"""hostile_py: what a Python validator might do to its host, by `mode` in its config:
`loop` spins forever, `memory-bomb` allocates without end, `open-socket` tries to reach
Redis over TCP (its check passes when the sandbox refuses), `well-behaved` passes."""

import wit_world
from wit_world.imports import types

from aura_sdk import config, config_error, expect, expect_eq


def open_socket() -> types.Check:
    try:
        import socket

        socket.create_connection(("127.0.0.1", 16379), timeout=1).close()
        outcome = "connected"
    except Exception as e:  # whatever the sandbox raises: refused, unsupported, no module...
        outcome = f"refused ({type(e).__name__})"
    return expect("socket", outcome.startswith("refused"), "refused", outcome, "the plugin reached the network")


class WitWorld(wit_world.WitWorld):
    def validate(self, ctx: types.RunContext) -> types.ValidationResult:
        mode = config(ctx).get("mode", "well-behaved")
        if mode == "loop":
            while True:
                pass
        if mode == "memory-bomb":
            blocks = []
            while True:
                blocks.append(bytearray(16 << 20))
        if mode == "open-socket":
            return types.ValidationResult(checks=[open_socket()])
        if mode == "well-behaved":
            return types.ValidationResult(checks=[expect_eq("well-behaved", "ok", "ok")])
        raise config_error(f"unknown mode {mode!r}; expected loop, memory-bomb, open-socket, well-behaved")
