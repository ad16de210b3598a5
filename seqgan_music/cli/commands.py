"""The `seqgan-music` command: the root Typer app with every command, and what runs it."""

from __future__ import annotations

import sys

import typer

from seqgan_music import __version__
from seqgan_music.cli.corpus import corpus_app
from seqgan_music.cli.compose import compose
from seqgan_music.cli.demo import demo
from seqgan_music.cli.evaluate import evaluate
from seqgan_music.cli.experiment import experiment_app
from seqgan_music.cli.export import export, pack, play
from seqgan_music.cli.groups import CommandGroup
from seqgan_music.cli.sweep import sweep
from seqgan_music.cli.train import generate, runs, train
from seqgan_music.cli.tui import tui

app = typer.Typer(
    name="seqgan-music",
    help=(
        "Compose folk tunes with Sequence Generative Adversarial Nets.\n\n"
        "Example: seqgan-music corpus build folk && seqgan-music train folk --preset quick --run first\n\n"
        "Without a command, in a terminal: opens the terminal app (`seqgan-music tui`)."
    ),
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    cls=CommandGroup,
)
app.add_typer(corpus_app, name="corpus")
app.command("compose")(compose)
app.command("export")(export)
app.command("play")(play)
app.command("train")(train)
app.command("generate")(generate)
app.command("runs")(runs)
app.command("demo")(demo)
app.command("evaluate")(evaluate)
app.command("sweep")(sweep)
app.command("pack")(pack)
app.add_typer(experiment_app, name="experiment")
app.command("tui")(tui)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"seqgan-music {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    context: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Compose folk tunes with Sequence Generative Adversarial Nets."""
    if context.invoked_subcommand is not None:
        return
    if sys.stdin.isatty() and sys.stdout.isatty():
        tui()
    else:  # piped or scripted: the app needs a terminal, so show what there is to run
        typer.echo(context.get_help())


def main() -> None:
    """Console-script entry point."""
    app(prog_name="seqgan-music")
