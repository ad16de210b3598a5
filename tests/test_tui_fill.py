"""The Compose pane writes marked bars of a tune again (the arrow keys mark them, n fills) and walks
between two marked tunes (i, a vae run), driven headless with Textual's Pilot; the new tunes are
those `fill_tunes` and `interpolate_tunes` write, every bar outside the span kept, and bad requests
are one line."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, Select

from seqgan_music.composing.compose import ComposeSettings
from seqgan_music.composing.fill import FillSettings, fill_tunes
from seqgan_music.composing.interpolation import interpolate_tunes
from seqgan_music.composing.model import load_model
from seqgan_music.composing.source_tune import read_source_tune
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.melody import Note
from seqgan_music.corpora.midi import read_midi_melody
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError
from seqgan_music.training.launch import start_run
from seqgan_music.tui.app import SeqganApp
from seqgan_music.tui.bar_marks import MARKED_STYLE, BarSpan, MarkedRoll, marked_columns
from seqgan_music.tui.compose import ComposePane, ComposeRequest, TuneTable, fill_settings, interpolation_settings, pane_source
from seqgan_music.tui.widgets import piano_roll
from test_compose_fill import assert_kept
from test_latent_compose import LATENT
from test_tui_compose import SIZE, generate, home, table_rows  # noqa: F401 (home: the empty project fixture)
from training_helpers import TINY

import tui_helpers
from tui_helpers import messages, screen_lines, settle, wait_until

drive = functools.partial(tui_helpers.drive, size=SIZE, panes=(ComposePane,))


@pytest.fixture(scope="module")
def vae_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A project with a tiny window vae run on five Nottingham tunes (a few seconds)."""
    files = sorted((shared_data / "nottingham" / "MIDI").glob("*.mid"))[:5]
    if len(files) < 5:
        pytest.skip("Nottingham MIDI files not found")
    root = tmp_path_factory.mktemp("vae")
    build_music_corpus("notts", [read_midi_melody(f, f.name) for f in files], music_encoding("grid16", 64),
                       SplitPlan(), {"kind": "midi"}).save(root)
    config = apply_overrides(preset("quick"), [*TINY, "mle.epochs=1", "mle.batch_size=4", "run.threads=1",
                                               "run.eval_samples=4", "run.samples=1", "run.method=vae", *LATENT["vae"]])
    assert start_run(root, "notts", config, "vae").run() == "finished"
    return root


# --- marking bars (pure) -----------------------------------------------------------------------


def test_the_arrows_mark_one_bar_and_shift_grows_the_span_from_where_it_started() -> None:
    span = BarSpan.first_move(8, 1)
    assert (span.first, span.last, span.describe()) == (1, 1, "bar 1 marked")
    span = span.moved(1, False).moved(1, True).moved(1, True)
    assert (span.first, span.last, span.describe()) == (2, 4, "bars 2-4 marked")
    span = span.moved(-1, True).moved(-1, True).moved(-1, True)  # back past where it started
    assert (span.first, span.last) == (1, 2)
    assert span.moved(-5, False).bars == "bar 1" and BarSpan.first_move(8, -1).moved(3, False).bars == "bar 8"


def test_the_marked_bars_are_the_columns_between_their_bar_lines() -> None:
    notes = [Note(60 + i, float(i), i + 1.0) for i in range(8)]  # a note a beat, two bars of 4/4
    grid = piano_roll(notes, 80, bars=[0.0, 4.0])
    start, stop = marked_columns(grid, [0.0, 4.0], 8.0, BarSpan(2, 2, 2))
    assert (start, stop) == (grid.left + 16, grid.left + 32)  # bar 2's sixteen steps
    assert grid.lines[67 - 64][start] == "█"  # its first note, E4 at beat 4


# --- the settings a fill takes -----------------------------------------------------------------


def test_fill_takes_count_seed_and_temperature_and_refuses_bad_ones_in_one_line() -> None:
    assert fill_settings(ComposeRequest(count="3", seed="7", temperature="0.8")) == FillSettings(
        count=3, seed=7, temperature=0.8)
    assert fill_settings(ComposeRequest(seed="", key="H major", primer="missing.mid")).count == 8  # not its fields
    for request, error in ((ComposeRequest(count="0"), "count must be a whole number from 1 to 100"),
                           (ComposeRequest(seed="x"), "seed must be a whole number"),
                           (ComposeRequest(temperature="hot"), "temperature must be a number above 0")):
        with pytest.raises(SeqganError, match=error):
            fill_settings(request)


def test_a_path_takes_the_steps_field_and_decodes_greedily_without_a_temperature() -> None:
    points, settings = interpolation_settings(ComposeRequest(seed="4"))
    assert (points, settings.temperature, settings.seed) == (5, None, 4)
    assert interpolation_settings(ComposeRequest(steps="3", temperature="0.7"))[1].temperature == 0.7
    for steps in ("1", "101", "many"):
        with pytest.raises(SeqganError, match="steps must be a whole number from 2 to 100, e.g. 5"):
            interpolation_settings(ComposeRequest(steps=steps))


# --- filling in the pane -----------------------------------------------------------------------


def test_marked_bars_written_again_appear_below_the_source_keeping_every_other_bar(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="1", part_bars="4", seed="9")  # an AABB tune: eight bars notated
        pane = app.query_one(ComposePane)
        source = pane.tunes[0]
        assert len(source.melody.bars) == 8
        app.query_one("#export-folder", Input).value = str(out)
        roll, status = app.query_one("#tune-roll", MarkedRoll), app.query_one("#bar-status", Label)
        await pilot.press("t", "right", "right", "shift+right")
        assert (roll.span.first, roll.span.last) == (2, 3) and str(status.content).startswith("bars 2-3 marked")
        start, stop = marked_columns(roll.grid(), roll.bars, max(n.end for n in roll.notes), roll.span)
        lit = [span for span in roll.render().spans if str(span.style) == MARKED_STYLE]
        assert lit and all((s.end - s.start) == stop - start for s in lit)
        app.query_one("#compose-count", Input).value, app.query_one("#compose-seed", Input).value = "2", "5"
        await pilot.press("n")
        await wait_until(pilot, lambda: app.query_one(TuneTable).row_count == 3)
        await settle(pilot)
        assert [t.title for t in pane.tunes[1:]] == [f"{source.title} (bars 2-3 new, seed {seed})" for seed in (5, 6)]
        assert [row[1] for row in table_rows(app)] == [source.title, *[f"↳ bars 2-3 new: {source.title}"] * 2]
        assert [row[-1] for row in table_rows(app)] == ["9", "5", "6"]
        for tune in pane.tunes[1:]:
            assert_kept(tune.melody, source.melody, (2, 3))
            assert tune.melody.key.name == source.melody.key.name and tune.melody.meter == source.melody.meter
        assert app.query_one(TuneTable).cursor_row == 1 and roll.notes == pane.tunes[1].melody.notes
        assert (roll.span.first, roll.span.last) == (2, 3)  # the new bars lit on the new version
        kind = source.provenance["tune"]["type"]["written"]  # the source's type, on the new version's roll
        assert roll.title == f"{source.melody.meter} {kind} in {source.melody.key.name}: {pane.tunes[1].title}"
        assert str(app.query_one("#tune-parts", Label).content) == (
            "bars 2-3 new (left context, best of 16 by the following bars' likelihood); every other bar, the key "
            "and the meter kept")
        assert not messages(app, "error")
        await pilot.press("space", "up", "space", "e")  # export the first version and its source
        await settle(pilot)
        sidecars = sorted(out.glob("*.json"))
        assert len(sidecars) == 2 and len(list(out.glob("*.mid"))) == 2
        filled_record = json.loads(next(p for p in sidecars if "bars-2-3" in p.name).read_text())
        source_file = next(p for p in sidecars if "bars-2-3" not in p.name)
        recorded = filled_record["fill"]["source"]
        assert recorded["file"] == str(source_file.resolve())
        assert recorded["sha256"] == hashlib.sha256(source_file.read_bytes()).hexdigest()
        assert f"--from {source_file.resolve()} " in filled_record["command"]
        expected = fill_tunes(load_model(home, None), read_source_tune(source_file), 2, 3, FillSettings(count=2, seed=5))
        assert [t.tokens for t in pane.tunes[1:]] == [t.tokens for t in expected]  # as the recorded command writes
        assert_kept(read_source_tune(next(p for p in sidecars if "bars-2-3" in p.name)).melody,
                    read_source_tune(source_file).melody, (2, 3))

    drive(home, script)


def test_a_span_that_cannot_be_filled_is_one_line_in_the_pane_and_adds_no_tune(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="1", part_bars="2", seed="4")  # four bars notated
        await pilot.press("t", "n")
        assert messages(app, "error")[-1].startswith("mark the bars to write again first")
        await pilot.press("right", *["shift+right"] * 5)  # bars 1-4: the whole tune
        assert str(app.query_one("#bar-status", Label).content).startswith("bars 1-4 marked")
        await pilot.press("n")
        await wait_until(pilot, lambda: len(messages(app, "error")) == 2)
        await settle(pilot)
        error = messages(app, "error")[-1]
        assert error.startswith("bars 1-4 are the whole of ") and "\n" not in error
        assert str(app.query_one("#bar-status", Label).content) == error
        assert app.query_one(TuneTable).row_count == 1 and not app.query_one("#compose-button").disabled

    drive(home, script)


# --- walking between two tunes -----------------------------------------------------------------


def test_a_model_without_an_encoder_says_which_methods_interpolate(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="2", part_bars="2", seed="4")
        await pilot.press("t", "space", "i")
        assert messages(app, "error")[-1] == "mark two tunes to walk between (space), then press i: 1 marked"
        await pilot.press("down", "space", "i")
        await wait_until(pilot, lambda: len(messages(app, "error")) == 2)
        await settle(pilot)
        error = messages(app, "error")[-1]
        assert "a vae or arae run" in error and "\n" not in error
        assert app.query_one(TuneTable).row_count == 2

    drive(home, script)


def test_two_marked_tunes_and_a_vae_run_give_the_path_as_new_rows(vae_home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        app.query_one("#compose-model", Select).value = "vae"
        await generate(app, pilot, count="2", bars="2", seed="3")
        pane = app.query_one(ComposePane)
        a, b = pane.tunes
        app.query_one("#compose-steps", Input).value = "3"
        await pilot.press("t", "space", "down", "space", "i")
        await wait_until(pilot, lambda: app.query_one(TuneTable).row_count == 5)
        await settle(pilot)
        folder = vae_home / "tunes"
        expected = interpolate_tunes(load_model(vae_home, "vae"), pane_source(1, a, folder), pane_source(2, b, folder),
                                     3, ComposeSettings())
        assert [t.tokens for t in pane.tunes[2:]] == [t.tokens for t in expected]
        assert [t.title for t in pane.tunes[2:]] == [t.title for t in expected]
        assert [row[1][:9] for row in table_rows(app)[2:]] == ["path 1/3:", "path 2/3:", "path 3/3:"]
        assert [t.provenance["interpolation"]["t"] for t in pane.tunes[2:]] == [0.0, 0.5, 1.0]
        assert app.query_one(TuneTable).marked == {0, 1} and app.query_one(TuneTable).cursor_row == 2
        assert str(app.query_one("#tune-parts", Label).content) == (
            "tune 1 of 3 on the linear path between the marked tunes (t 0): greedy")
        assert not messages(app, "error")

    drive(vae_home, script)


# --- the keys ----------------------------------------------------------------------------------


def test_the_footer_offers_fill_and_the_help_and_status_lines_name_every_key(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="2", part_bars="2", seed="4")
        await pilot.press("t")
        assert " n Fill " in screen_lines(app)[-1] and "Help" in screen_lines(app)[-1]
        assert str(app.query_one("#bar-status", Label).content).startswith("←/→ marks a bar, shift+←/→ more bars")
        await pilot.press("space", "down", "space")
        assert str(app.query_one("#tune-status", Label).content).endswith("; i walks between the two")
        await pilot.press("question_mark")
        keys = dict((description, key) for _, _, rows in app.screen.sections for key, description in rows)
        for description, key in (("Fill", "n"), ("Path", "i"), ("Mark the next bar", "→"),
                                 ("Mark the bar before", "←"), ("Mark one bar more", "shift+→")):
            assert keys.get(description) == key, description
        help_text = " ".join(text for title, text, _ in app.screen.sections if title == "Compose")
        assert all(words in help_text for words in ("n writes the marked bars again", "press i with a vae or arae"))

    tui_helpers.drive(home, script, size=(80, 24), panes=(ComposePane,))
