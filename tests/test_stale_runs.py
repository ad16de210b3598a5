"""A run left marked `running` by a process that has ended (killed, or its status could not be
written) reads "interrupted (stale)" wherever a run's status is shown, not "running": the runs
listing, the terminal app's train pane (its table and its live view, which then offers Resume and
stops following it), the evaluate pane's runs and the compose pane's models. A run whose trainer
dies while the app follows it turns stale there within a few polls."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Label, Select, SelectionList
from typer.testing import CliRunner

from seqgan_music.cli import app
from seqgan_music.training.run_lock import RunLock
from seqgan_music.tui.app import SeqganApp
from test_cli import write_tune
from training_helpers import train
from tui_helpers import drive, wait_until

STALE = "interrupted (stale)"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("stale") / "home"
    for index in range(12):
        write_tune(home / "midi" / f"tune{index}.mid", [60 + (index + i) % 12 for i in range(64)])
    built = CliRunner().invoke(app, ["corpus", "build", "midi", str(home / "midi"), "--name", "tunes", "--length",
                                     "34", "--home", str(home)])
    assert built.exit_code == 0, built.output
    train(home, "tunes", "left", 1)
    return home


@pytest.fixture
def home(project: Path, tmp_path: Path) -> Path:
    """The project with run `left` marked running by this process on this machine, its lock free:
    as a trainer leaves it when it is killed (this process stands in: it is alive, the lock decides)."""
    copy = Path(shutil.copytree(project, tmp_path / "home"))
    run_json = copy / "checkpoints" / "left" / "run.json"
    info = json.loads(run_json.read_text())
    run_json.write_text(json.dumps({**info, "status": "running",
                                    "owner": {"pid": os.getpid(), "host": socket.gethostname()}}))
    return copy


def headline(app_: SeqganApp) -> str:
    return str(app_.query_one("#live-headline", Label).content)


def show_left(app_: SeqganApp) -> None:
    app_.query_one("#panes").active = "tab-train"
    table = app_.query_one("#runs-table", DataTable)
    table.move_cursor(row=table.get_row_index("left"))


def test_runs_lists_a_stale_run_as_such(home):
    listing = CliRunner().invoke(app, ["runs", "--home", str(home)]).output
    assert STALE in next(line for line in listing.splitlines() if "left" in line), listing


def test_the_app_shows_a_stale_run_as_stale_in_every_pane_and_offers_to_resume_it(home):
    shown: dict[str, object] = {}

    async def script(app_: SeqganApp, pilot: Pilot) -> None:
        show_left(app_)
        await pilot.pause()
        shown["headline"] = headline(app_)
        shown["resume"] = not app_.query_one("#resume-button", Button).disabled
        shown["stop"] = not app_.query_one("#stop-button", Button).disabled
        choices = app_.query_one("#evaluate-runs", SelectionList)
        shown["evaluate"] = str(choices.get_option_at_index(choices.get_option_index("left")).prompt)
        models = dict((value, label) for label, value in app_.query_one("#compose-model", Select)._options)
        shown["compose"] = str(models["left"])

    drive(home, script, size=(140, 40))
    assert STALE in str(shown["headline"]) and "running" not in str(shown["headline"]), shown
    assert shown["resume"] and not shown["stop"], shown
    assert shown["evaluate"].endswith(STALE), shown
    assert STALE in shown["compose"] and "running" not in shown["compose"], shown


def test_a_run_whose_trainer_dies_while_the_app_follows_it_turns_stale(home):
    lock = RunLock(home / "checkpoints" / "left").acquire()  # trained elsewhere: its lock is held
    seen: list[str] = []

    async def script(app_: SeqganApp, pilot: Pilot) -> None:
        show_left(app_)
        await pilot.pause()
        seen.append(headline(app_))
        lock.release()  # the trainer is killed: the kernel drops its lock, run.json still says running
        await wait_until(pilot, lambda: STALE in headline(app_), seconds=10)
        seen.append(headline(app_))

    try:
        drive(home, script, size=(140, 40))
    finally:
        lock.release()
    assert " · running · " in seen[0] and STALE in seen[1], seen
