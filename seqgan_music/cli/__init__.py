"""Command-line interface: Typer commands that parse options, call the core and render with rich.

May import everything in seqgan_music plus typer and rich; holds no logic of its own beyond that.

The package itself stays light: `main` imports the commands (a second or two of torch, music21 and
the rest) inside its own guard, so a Ctrl-C while they load ends in one line, not a traceback.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["app", "main"]

INTERRUPTED_STATUS = 130  # 128 + SIGINT, as the commands themselves exit on Ctrl-C


def main() -> None:
    """Console-script entry point."""
    try:
        from seqgan_music.cli.commands import main as run_commands
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(INTERRUPTED_STATUS) from None
    run_commands()


def __getattr__(name: str) -> Any:
    """`app`, the Typer application (cli/commands.py), loaded when first asked for."""
    if name == "app":
        from seqgan_music.cli.commands import app

        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
