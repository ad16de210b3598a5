"""`seqgan-music demo`: the main job behind `make run`, from nothing to folk tunes in minutes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from seqgan_music.cli.common import HomeOption, console, home_path, user_errors


@user_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the tunes.")] = Path("tunes"),
    n: Annotated[int, typer.Option("--n", min=1, help="Number of tunes.")] = 8,
    preset_name: Annotated[str, typer.Option("--preset", help="Training preset.")] = "quick",
    home: HomeOption = None,
) -> None:
    """Build the folk corpus (reused when present), train the quick preset, write tunes as MIDI.

    Prints how long each stage took and where the tunes are.

    Example: seqgan-music demo --out tunes --n 8
    """
    from seqgan_music.cli.corpus import build_folk
    from seqgan_music.cli.train import train
    from seqgan_music.atomic import prepare_output_folder
    from seqgan_music.training.generation import generate_from_run
    from seqgan_music.training.runs import default_run_name

    root = home_path(home)
    folder = out if out.is_absolute() else Path.cwd() / out
    prepare_output_folder(folder)  # a folder it cannot write is refused now, not after minutes of training
    stages: list[tuple[str, float]] = []
    started = time.perf_counter()
    build_folk(home=root)
    stages.append(("folk corpus", time.perf_counter() - started))
    run = default_run_name("folk", preset_name)
    started = time.perf_counter()
    train("folk", preset_name=preset_name, run=run, home=root)
    stages.append((f"training ({preset_name} preset)", time.perf_counter() - started))
    started = time.perf_counter()
    written = [p for p in generate_from_run(root, run, folder, n) if p.suffix == ".mid"]
    stages.append(("writing tunes", time.perf_counter() - started))
    for stage, seconds in stages:
        console.print(f"  {stage:<28} {seconds:7.1f} s", highlight=False)
    console.print(f"[green]{len(written)} tunes[/] in {folder}: {', '.join(p.name for p in written[:3])} ...", highlight=False)
    console.print(f"run: {root / 'checkpoints' / run}; more with: seqgan-music generate {run} --n 8 --out {out}",
                  highlight=False)
