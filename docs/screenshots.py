"""Make the documentation screenshots of the terminal app (docs/screenshots/*.svg) with real data.

    python docs/screenshots.py [--home build/screenshots] [--out docs/screenshots] [--only NAME ...]

First the project folder `--home` is prepared with the CLI, each step skipped when its output is
there already (so a rerun only takes the screenshots: under a minute):

1. the Nottingham corpus `nottingham` (grid16) built from the real MIDI folder (`--midi`);
2. two runs on it with the `quick` preset, seed 0, on the CPU: `notts-mle` (method mle) and
   `notts-seqgan` (method seqgan);
3. both evaluated once with `seqgan-music evaluate --samples 200`, which fills the cache in each
   run folder; the Evaluate pane is then given the same settings and reads the same cache.

Then the app is driven headless with Textual's Pilot, as the tests do, and each screen is saved as
an SVG once its data is on screen (its workers are waited for). The live-training screenshot
starts a small run `notts-live` from the Train form; it is deleted before and after, so the other
screens always show the same two runs.

Run it with the project's virtual environment, from anywhere; on a shared machine, `nice` it:

    nice .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select, SelectionList

from seqgan_music.tui.app import SeqganApp, create_app

ROOT = Path(__file__).resolve().parent.parent
CORPUS = "nottingham"
RUNS = {"notts-mle": "mle", "notts-seqgan": "seqgan"}  # the baseline (ticked first) comes first
LIVE_RUN = "notts-live"
SEED = 0
SAMPLES = "200"  # evaluation samples, in the CLI's evaluation and in the Evaluate pane
TEMPERATURES = "0.8,1.0,1.2"  # the Evaluate pane's sweep
COMPOSE = {"count": "4", "seed": "7"}  # the Compose form (default model, other fields as shipped)
# The live run: the quick preset cut down, so that it trains in a minute or two on a small CPU.
LIVE_FORM = {"mle.epochs": "3", "pretrain_d.rounds": "1", "adversarial.rounds": "4", "adversarial.rollouts": "2",
             "run.seed": str(SEED)}
LIVE_SHOT_AFTER = 2  # adversarial rounds logged before the live screenshot
WIDE, SMALL = (120, 40), (80, 24)
WAIT_SECONDS = 1800.0  # the longest any one screen may take (the live run on a busy machine)


# --- preparing the project folder ---------------------------------------------------------------


def cli(home: Path, *args: str) -> None:
    """Run `seqgan-music ARGS --home HOME` with this interpreter, echoing the command."""
    command = [sys.executable, "-m", "seqgan_music", *args, "--home", str(home)]
    print("$ seqgan-music", " ".join(args), flush=True)
    subprocess.run(command, check=True)


def run_finished(home: Path, name: str) -> bool:
    info = home / "checkpoints" / name / "run.json"
    return info.is_file() and json.loads(info.read_text()).get("status") == "finished"


def timed(label: str, step: Callable[[], None]) -> None:
    start = time.monotonic()
    step()
    print(f"  {label}: {time.monotonic() - start:.0f} s", flush=True)


def prepare(home: Path, midi: Path) -> None:
    """Build the corpus, train the two runs and evaluate them, skipping what is there already."""
    if not (home / "corpora" / CORPUS / "manifest.json").is_file():
        if not midi.is_dir():
            sys.exit(f"no MIDI folder at {midi}: pass --midi FOLDER (the Nottingham MIDI files)")
        timed("corpus", lambda: cli(home, "corpus", "build", "midi", str(midi), "--name", CORPUS,
                                    "--encoding", "grid16"))
    for name, method in RUNS.items():
        if not run_finished(home, name):
            shutil.rmtree(home / "checkpoints" / name, ignore_errors=True)  # a run cut short: start again
            timed(f"training {name}", lambda name=name, method=method: cli(
                home, "train", CORPUS, "--preset", "quick", "--method", method, "--run", name,
                "--seed", str(SEED), "--device", "cpu"))
    if not all((home / "checkpoints" / name / "evaluations.json").is_file() for name in RUNS):
        timed("evaluation", lambda: cli(home, "evaluate", *RUNS, "--samples", SAMPLES))
    shutil.rmtree(home / "checkpoints" / LIVE_RUN, ignore_errors=True)


# --- driving the app ----------------------------------------------------------------------------


async def settle(pilot: Pilot) -> None:
    """Let messages, then every worker, then the redraw they cause, run to the end."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > WAIT_SECONDS:
            raise TimeoutError(f"gave up waiting for {what}")
        await pilot.pause(0.2)


async def show_tab(pilot: Pilot, pane: str) -> None:
    pilot.app.query_one("#panes").active = f"tab-{pane}"
    await settle(pilot)


async def select_row(pilot: Pilot, table_id: str, key: str) -> None:
    """Move a table's cursor to the row `key`, as the arrow keys would."""
    table = pilot.app.query_one(table_id, DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(key))
    await settle(pilot)


class Shooter:
    """Saves SVG screenshots into `out`, only those asked for (all when `only` is empty)."""

    def __init__(self, out: Path, only: set[str]) -> None:
        self.out, self.only = out, only
        self.saved: list[Path] = []

    def wants(self, *names: str) -> bool:
        return not self.only or bool(self.only & set(names))

    async def shoot(self, pilot: Pilot, name: str, caption: str) -> None:
        if not self.wants(name):
            return
        app = pilot.app
        app.clear_notifications()  # toasts would hide the bottom right of the screen
        await pilot.pause(0.3)
        path = self.out / f"{name}.svg"
        path.write_text(app.export_screenshot(title=f"seqgan-music: {caption}"), encoding="utf-8")
        self.saved.append(path)
        print(f"  saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


async def drive(home: Path, size: tuple[int, int], script: Callable[[SeqganApp, Pilot], Awaitable[None]]) -> None:
    app = create_app(home)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await script(app, pilot)


async def corpora_and_help(shots: Shooter, app: SeqganApp, pilot: Pilot) -> None:
    await show_tab(pilot, "corpora")
    await select_row(pilot, "#corpora-table", CORPUS)
    details = app.query_one("#corpus-details")
    await wait_until(pilot, lambda: details.border_title == f"corpus {CORPUS}", "the corpus details")
    await settle(pilot)
    await shots.shoot(pilot, "corpora", "Corpora, the Nottingham corpus")
    details.scroll_to_widget(app.query_one("#tune-lengths"), animate=False, top=True)
    await pilot.pause()
    await shots.shoot(pilot, "corpora-rolls", "Corpora, tune lengths and tunes of the Nottingham corpus")
    details.scroll_home(animate=False)
    app.query_one("#corpora-table").focus()
    await pilot.press("question_mark")
    await pilot.pause()
    await shots.shoot(pilot, "help", "help")
    await pilot.press("escape")
    await pilot.pause()


async def train_run(shots: Shooter, app: SeqganApp, pilot: Pilot, name: str, caption: str) -> None:
    """The Train tab with a finished run selected (its last phase's curves)."""
    await show_tab(pilot, "train")
    await select_row(pilot, "#runs-table", "notts-seqgan")
    await wait_until(pilot, lambda: app.query_one("#live-view").border_title == "run notts-seqgan", "the run")
    await settle(pilot)
    await shots.shoot(pilot, name, caption)


async def compose(shots: Shooter, app: SeqganApp, pilot: Pilot) -> None:
    await show_tab(pilot, "compose")
    for field, text in COMPOSE.items():
        app.query_one(f"#compose-{field}", Input).value = text
    await pilot.press("g")  # the focus is on the model picker, which lets g through to the pane
    await settle(pilot)
    pane = app.query_one("#compose")
    await wait_until(pilot, lambda: len(pane.tunes) == int(COMPOSE["count"]), "the composed tunes")
    app.query_one("#tunes-table").focus()
    await settle(pilot)
    await shots.shoot(pilot, "compose", "Compose, four tunes of the default model")


async def evaluate(shots: Shooter, app: SeqganApp, pilot: Pilot) -> None:
    await show_tab(pilot, "evaluate")
    runs = app.query_one("#evaluate-runs", SelectionList)
    for name in RUNS:  # tick with the keyboard, in order: the first ticked is the baseline
        await pilot.press("l", "home", *["down"] * runs.get_option_index(name), "space")
    app.query_one("#evaluate-samples", Input).value = SAMPLES
    app.query_one("#evaluate-temperatures", Input).value = TEMPERATURES
    await pilot.press("e")
    await settle(pilot)
    table = app.query_one("#scores-table", DataTable)
    await wait_until(pilot, lambda: table.display and table.row_count > 0, "the scores")
    await shots.shoot(pilot, "evaluate", "Evaluate, notts-mle against notts-seqgan")
    if shots.wants("evaluate-zoomed", "evaluate-histograms"):
        await pilot.press("z")  # the results get the whole width: the p-values come into view
        await pilot.pause()
        await shots.shoot(pilot, "evaluate-zoomed", "Evaluate, the scores with p-values (zoomed)")
        results = app.query_one("#evaluate-results")
        results.scroll_to_widget(app.query_one("#pitch-class-chart"), animate=False, top=True)
        await pilot.pause()
        await shots.shoot(pilot, "evaluate-histograms", "Evaluate, pitch-class histograms (zoomed)")
        results.scroll_home(animate=False)
        await pilot.press("z")
        await pilot.pause()
    if shots.wants("evaluate-sweep"):
        start = time.monotonic()
        await pilot.press("s")
        await settle(pilot)
        plot = app.query_one("#sweep-plot")
        await wait_until(pilot, lambda: plot.display and plot.view is not None, "the sweep")
        print(f"  sweep in the pane: {time.monotonic() - start:.0f} s", flush=True)
        await pilot.pause(0.5)  # the results scroll to the plot after a refresh
        await shots.shoot(pilot, "evaluate-sweep", f"Evaluate, temperature sweep {TEMPERATURES}")


async def train_live(shots: Shooter, app: SeqganApp, pilot: Pilot) -> None:
    """Start a small run from the form, shoot it mid-run, let it finish."""
    await show_tab(pilot, "train")
    await pilot.press("n")  # the form: the corpus picker has the focus
    app.query_one("#train-corpus", Select).value = CORPUS
    await pilot.pause()  # choosing a corpus picks its default preset (folk) ...
    app.query_one("#train-preset", Select).value = "quick"
    await pilot.pause()  # ... and a preset fills the fields: change them after
    form = app.query_one("#new-run")
    for setting, text in LIVE_FORM.items():
        form.query_one(f"#set-{setting.replace('.', '-').replace('_', '-')}", Input).value = text
    app.query_one("#train-device", Select).value = "cpu"
    app.query_one("#train-name", Input).value = LIVE_RUN
    await pilot.pause()
    start = time.monotonic()
    app.query_one("#start-button").press()
    await pilot.pause()
    pane = app.query_one("#train")
    if LIVE_RUN not in pane.histories:  # the form refused: say why (the app's notification)
        raise RuntimeError("the run did not start: " + "; ".join(n.message for n in app._notifications))
    history = pane.histories[LIVE_RUN]
    await wait_until(pilot, lambda: history.done("adversarial") >= LIVE_SHOT_AFTER or pane.session is None,
                     "the live run")
    if history.done("adversarial") < LIVE_SHOT_AFTER:
        raise RuntimeError(f"the live run ended early: {history.note}")
    await pilot.pause(0.5)
    await shots.shoot(pilot, "train-live", f"Train, {LIVE_RUN} training live")
    await wait_until(pilot, lambda: pane.session is None, "the end of the live run")
    await settle(pilot)
    print(f"  live run: {time.monotonic() - start:.0f} s", flush=True)


async def take_all(home: Path, shots: Shooter) -> None:
    async def wide(app: SeqganApp, pilot: Pilot) -> None:
        if shots.wants("corpora", "corpora-rolls", "help"):
            await corpora_and_help(shots, app, pilot)
        if shots.wants("train"):
            await train_run(shots, app, pilot, "train", "Train, the notts-seqgan run")
        if shots.wants("compose"):
            await compose(shots, app, pilot)
        if shots.wants("evaluate", "evaluate-zoomed", "evaluate-histograms", "evaluate-sweep"):
            await evaluate(shots, app, pilot)

    async def small(app: SeqganApp, pilot: Pilot) -> None:
        await train_run(shots, app, pilot, "train-80x24", "Train at 80x24")

    async def live(app: SeqganApp, pilot: Pilot) -> None:
        try:
            await train_live(shots, app, pilot)
        finally:
            if pilot.app.query_one("#train").session is not None:  # interrupted: stop and save first
                pilot.app.query_one("#train").action_stop()
                await settle(pilot)

    await drive(home, WIDE, wide)
    if shots.wants("train-80x24"):
        await drive(home, SMALL, small)
    if shots.wants("train-live"):
        await drive(home, WIDE, live)
        shutil.rmtree(home / "checkpoints" / LIVE_RUN, ignore_errors=True)


SHOTS = ("corpora", "corpora-rolls", "help", "train", "train-80x24", "train-live", "compose", "evaluate",
         "evaluate-zoomed", "evaluate-histograms", "evaluate-sweep")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "build" / "screenshots",
                        help="project folder to prepare and reuse (default: build/screenshots)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots",
                        help="folder of the SVG files (default: docs/screenshots)")
    parser.add_argument("--midi", type=Path, default=ROOT.parent / "shared" / "data" / "nottingham" / "MIDI",
                        help="the Nottingham MIDI folder (default: ../shared/data/nottingham/MIDI)")
    parser.add_argument("--only", nargs="+", choices=SHOTS, default=[], metavar="NAME",
                        help=f"take only these screenshots: {', '.join(SHOTS)}")
    args = parser.parse_args(argv)
    home, out = args.home.resolve(), args.out.resolve()
    home.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    print(f"preparing {home}", flush=True)
    prepare(home, args.midi)
    print("taking screenshots", flush=True)
    shots = Shooter(out, set(args.only))
    asyncio.run(take_all(home, shots))
    print(f"{len(shots.saved)} screenshot(s) in {out} ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
