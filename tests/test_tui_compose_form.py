"""The Compose pane with a whole-tune model: the form, bars a strain, type and endings fields (hidden,
with a hint, for a window model), composing in the form asked for, and each tune's parts shown.

The whole-tune model is conftest.py's tune_model, the tiny run on the Nottingham tunes (built once a session).
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Label, Select

from seqgan_music.composing.form import DEFAULT_FORM
from seqgan_music.composing.model import load_model
from seqgan_music.corpora.melody import Note
from seqgan_music.tui.app import SeqganApp
from seqgan_music.tui.compose import ComposePane, ComposeRequest, TuneTable, compose_settings, known_types
from seqgan_music.tui.widgets import PianoRoll, piano_roll

import tui_helpers
from tui_helpers import messages, settle, wait_until

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RUN = "tiny-tunes"  # the run tune_model trains; its folder's parent is the project
WINDOWS = "tiny-windows"  # the same run as a window model (data.unit = "window")
drive = functools.partial(tui_helpers.drive, size=(110, 40), panes=(ComposePane,))


@pytest.fixture(scope="module")
def tunes_home(tune_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the whole-tune run's project (the session's stays as it is), with a copy of the run that
    says it learned windows."""
    home = tmp_path_factory.mktemp("tunes-home") / "home"
    shutil.copytree(tune_model.parent, home)
    runs = home / "checkpoints"
    shutil.copytree(runs / RUN, runs / WINDOWS)
    config = runs / WINDOWS / "config.toml"
    assert 'unit = "tune"' in config.read_text()
    config.write_text(config.read_text().replace('unit = "tune"', 'unit = "window"'))
    info = json.loads((runs / WINDOWS / "run.json").read_text())
    (runs / WINDOWS / "run.json").write_text(json.dumps({**info, "name": WINDOWS}))
    assert load_model(home, WINDOWS).unit == "window"  # it loads (a model that cannot is offered bars too)
    return home


def shown(app: SeqganApp, selector: str) -> bool:
    """Whether the widget and every container above it are displayed."""
    return all(node.display for node in app.query_one(selector).ancestors_with_self if hasattr(node, "display"))


async def choose(app: SeqganApp, pilot: Pilot, model: str) -> None:
    """Pick a model and wait until the form shows what it composes."""
    app.query_one("#compose-model", Select).value = model
    form = app.query_one("#compose-form")
    await wait_until(pilot, lambda: form.choices.whole_tunes == (model == RUN))
    await settle(pilot)


def fill(app: SeqganApp, **values: str) -> None:
    for selector, value in values.items():
        app.query_one(f"#{selector.replace('_', '-')}", Input).value = value


def model_types(tune_model: Path) -> set[str]:
    info = json.loads((tune_model / "model.json").read_text())
    return {key.split(" ")[2] for key in info["headers"]} - {"unknown"}


def test_a_whole_tune_model_offers_form_type_and_endings_and_a_window_model_says_why_not(
        tunes_home: Path, tune_model: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await choose(app, pilot, WINDOWS)  # a window model composes strings of bars: its length, and a hint
        assert not shown(app, "#tune-form") and not shown(app, "#tune-type") and not shown(app, "#tune-endings")
        assert shown(app, "#compose-bars") and shown(app, "#tune-hint")
        assert str(app.query_one("#tune-hint", Label).content) == "form, type, endings: whole-tune models only"
        await choose(app, pilot, RUN)
        for selector in ("#tune-form", "#tune-part-bars", "#tune-type", "#tune-endings"):
            assert shown(app, selector) and app.query_one(selector).region.height == 1, selector
        assert not shown(app, "#compose-bars") and not shown(app, "#tune-hint")
        assert app.query_one("#tune-form", Input).value == "AABB"
        assert app.query_one("#tune-part-bars", Input).value == "8"
        options = [value for _, value in app.query_one("#tune-type", Select)._options]
        assert options[0] == "" and set(options[1:]) == model_types(tune_model) and "jig" in options
        await choose(app, pilot, WINDOWS)
        assert not shown(app, "#tune-form") and shown(app, "#compose-bars") and shown(app, "#tune-hint")

    drive(tunes_home, script)


def test_a_window_model_ignores_the_hidden_form_fields() -> None:
    settings = compose_settings(Path("."), ComposeRequest(bars="4", seed="1", form="AABA", part_bars="many",
                                                          tune_type="jig", endings=True))
    assert (settings.bars, settings.form, settings.part_bars, settings.tune_type, settings.endings) == \
        (4, None, None, None, False)
    settings = compose_settings(Path("."), ComposeRequest(bars="many", seed="1", whole_tunes=True, endings=True))
    assert (settings.bars, settings.form, settings.part_bars, settings.endings) == (None, DEFAULT_FORM, 8, True)


def test_composing_aaba_of_the_chosen_type_writes_it_and_shows_the_parts(tunes_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "tunes"

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await choose(app, pilot, RUN)
        fill(app, compose_count="2", compose_seed="5", tune_form="AABA", tune_part_bars="4")
        app.query_one("#tune-type", Select).value = "jig"
        await pilot.press("g")
        await settle(pilot)
        assert not messages(app, "error")
        tunes = app.query_one(ComposePane).tunes
        assert len(tunes) == 2
        parts = app.query_one("#tune-parts", Label)
        assert shown(app, "#tune-parts") and str(parts.content) == (
            "jig AABA · A: bars 1-4 ×2 · B: bars 5-8 · A: bars 9-12 · 12 bars notated, 16 played")
        roll = app.query_one("#tune-roll", PianoRoll)
        assert roll.title.startswith("6/8 jig in ")
        bars = tunes[0].melody.bars
        assert len(bars) == 12 and roll.strains == [bars[4], bars[8]]  # where B and the last A start
        assert "║" in "".join(roll.plain_lines())
        app.query_one("#format-mid", Checkbox).value = False
        app.query_one("#format-abc", Checkbox).value = True
        app.query_one("#export-folder", Input).value = str(out)
        await pilot.press("a", "e")
        await settle(pilot)
        sidecars = [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]
        assert len(sidecars) == 2
        for sidecar in sidecars:
            assert sidecar["tune"]["form"] == "AABA" and sidecar["tune"]["type"]["written"] == "jig"
            assert sidecar["tune"]["part_bars"] == 4 and sidecar["meter"]["written"] == "6/8"
            assert "--form AABA --part-bars 4 --type jig" in sidecar["command"]

        # Endings: each repeated strain writes its second ending as one more bar, which the parts count.
        fill(app, compose_count="1", tune_form="AABB", tune_part_bars="3")
        app.query_one("#tune-type", Select).value = ""  # any
        app.query_one("#tune-endings", Checkbox).value = True
        await pilot.press("g")
        await settle(pilot)
        tune = app.query_one(ComposePane).tunes[0]
        kind = tune.provenance["tune"]["type"]["written"]
        assert str(parts.content) == (f"{kind} AABB with endings · A: bars 1-4 ×2 · B: bars 5-8 ×2 · "
                                      "8 bars notated, 12 played")
        assert [mark[2] for mark in tune.melody.repeat_marks] == [0, 0, 1, 2, 0, 0, 1, 2]

    drive(tunes_home, script)


BAD_TUNE_FIELDS = [
    ("tune_part_bars", "0", "part bars must be a whole number from 1 to 64, e.g. 8"),
    ("tune_part_bars", "many", "part bars must be a whole number from 1 to 64, e.g. 8"),
    ("tune_form", "AAAB", "invalid --form 'AAAB': a strain is played once or twice in a row"),
]


def test_a_bad_form_field_is_a_one_line_error_and_nothing_is_composed(tunes_home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await choose(app, pilot, RUN)
        for field, value, expected in BAD_TUNE_FIELDS:
            fill(app, **{"tune_form": "AABB", "tune_part_bars": "8", field: value})
            await pilot.press("g")
            await settle(pilot)
            errors = messages(app, "error")
            assert errors and errors[-1].startswith(expected) and "\n" not in errors[-1], (field, value, errors)
        assert len(messages(app, "error")) == len(BAD_TUNE_FIELDS)
        assert not app.query_one(TuneTable).row_count and not shown(app, "#tune-parts")

    drive(tunes_home, script)


def test_the_types_are_the_training_tunes_most_common_first_without_unknown() -> None:
    headers = {"6/8 major jig": 2, "4/4 major reel": 3, "4/4 dorian jig": 2, "6/8 minor unknown": 9}
    assert known_types(headers) == ("jig", "reel")


def test_the_piano_roll_marks_where_a_strain_starts_over_the_bar_line_but_under_the_notes() -> None:
    notes = [Note(60 + i % 3, i, i + 1) for i in range(8)]
    grid = piano_roll(notes, width=40, step=1.0, bars=[0, 2, 4, 6], strains=[4.0])
    assert grid.lines == ["D4   █ ║█┊ ", "    █┊ █ ┊█", "C4 █·┊█║·█·"]
