"""The class of every command group: help that shows no value type after a flag.

Typer's rich help (0.29) prints a type after every option, `<bool>` after a flag too, although a
flag takes no value (its plain help leaves the type out). Each group clears the type of its own
flags, --help included, and of its commands' flags before their help is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from typer.core import TyperGroup


class CommandGroup(TyperGroup):
    """A TyperGroup (pass it as `cls` to `typer.Typer`) whose help and commands' help list flags bare."""

    def get_params(self, ctx: Any) -> list:
        return _bare_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _bare_flags(command.get_params(ctx))  # the same objects, --help's included, that its help shows
        return command


def _bare_flags(params: Sequence) -> list:
    """`params`, each flag given an empty metavar, which the help prints instead of the type."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return list(params)
