"""The plugin's `[config]` table from its manifest (TOML)."""

import tomllib

from componentize_py_types import Err
from wit_world.imports import types


def config_error(message: str) -> Err:
    """An error to raise for a configuration the plugin cannot work with."""
    return Err(types.PluginError_Config(message))


def config(ctx: types.RunContext) -> dict:
    """The configuration as a dict; raises the plugin's config error when it is not TOML."""
    try:
        return tomllib.loads(ctx.config or "")
    except tomllib.TOMLDecodeError as e:
        raise config_error(str(e)) from None
