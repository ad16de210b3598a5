"""Command-line interface: Typer commands that parse options, call the core and render with rich.

May import everything in seqgan_music plus typer and rich; holds no logic of its own beyond that.
"""

from seqgan_music.cli.app import app, main

__all__ = ["app", "main"]
