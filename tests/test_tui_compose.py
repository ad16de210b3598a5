"""The Compose pane, driven headless with Textual's Pilot, with the shipped default model (a whole-tune
model: the form's strains, bars a strain, type and endings) and a tiny window run (a length in bars).

pytest-asyncio is not a dependency, so each test runs its coroutine with `asyncio.run`.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from pathlib import Path

import pytest
from music21 import converter
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select

from seqgan_music.composing.compose import ComposeSettings, compose_tunes
from seqgan_music.composing.keys import parse_key
from seqgan_music.composing.model import load_model
from seqgan_music.composing.titles import file_stem
from seqgan_music.config import apply_overrides, preset
from seqgan_music.corpora.encodings import music_encoding
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Melody, Note, played_out
from seqgan_music.corpora.midi import read_midi_folder, read_midi_melody
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.export.midi import write_midi
from seqgan_music.training.launch import start_run
from seqgan_music.tui import compose as compose_module
from seqgan_music.tui.app import HelpScreen, SeqganApp
from seqgan_music.tui.compose import DEFAULT_LABEL, ComposePane, TuneTable, model_choices
from seqgan_music.tui.widgets import PianoRoll, TaskProgress
from training_helpers import TINY, train

import tui_helpers
from tui_helpers import messages, settle, wait_until

SIZE = (110, 36)


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty project folder: the picker offers only the shipped default model."""
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A project with a tiny music run, a grammar run and a music run not started yet (about 3 s)."""
    root = tmp_path_factory.mktemp("runs")
    midi = root / "midi"
    midi.mkdir()
    for file in sorted((shared_data / "nottingham" / "MIDI").glob("*.mid"))[:5]:
        (midi / file.name).symlink_to(file)
    tunes = read_midi_folder(midi)
    build_music_corpus("notts", tunes, music_encoding("grid16"), SplitPlan(), {"kind": "midi"}).save(root)
    build_grammar_corpus("grammar", 15, count=200).save(root)
    train(root, "notts", "tiny", epochs=1)
    train(root, "grammar", "words", epochs=1)
    start_run(root, "notts", apply_overrides(preset("quick"), TINY), "unstarted")  # no checkpoint yet
    return root


# --- helpers -----------------------------------------------------------------------------------


drive = functools.partial(tui_helpers.drive, size=SIZE, panes=(ComposePane,))






TUNE_FIELDS = ("form", "part_bars")  # a whole-tune model's fields; the others are every model's


def field(app: SeqganApp, name: str) -> Input:
    """The compose form's field `name` (count, bars, temperature, seed, key, meter, primer, form, part_bars)."""
    return app.query_one(f"#tune-{name.replace('_', '-')}" if name in TUNE_FIELDS else f"#compose-{name}", Input)


def fill(app: SeqganApp, **values: str) -> None:
    """Type values into the compose form's fields."""
    for name, value in values.items():
        field(app, name).value = value


async def ready(app: SeqganApp, pilot: Pilot) -> None:
    """Wait until the form offers what the chosen model composes: the default's form fields (it writes
    whole tunes), a run's length in bars (the runs here learned windows)."""
    form, select = app.query_one("#compose-form"), app.query_one("#compose-model", Select)
    await wait_until(pilot, lambda: form.choices.whole_tunes == (select.value == "default"))


async def generate(app: SeqganApp, pilot: Pilot, **values: str) -> None:
    await ready(app, pilot)
    fill(app, **values)
    await pilot.press("g")
    await settle(pilot)




def table_rows(app: SeqganApp) -> list[list[str]]:
    table = app.query_one(TuneTable)
    return [[str(cell) for cell in table.get_row_at(row)] for row in range(table.row_count)]


def expected_tunes(home: Path, model: str | None, **settings) -> list:
    return compose_tunes(load_model(home, model), ComposeSettings(**settings))


# --- composing ---------------------------------------------------------------------------------


def test_composing_with_the_default_model_gives_the_tunes_of_compose_tunes(home: Path) -> None:
    expected = expected_tunes(home, None, count=2, part_bars=2, seed=7, temperature=0.9, key=parse_key("D"),
                              meter="6/8")

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        assert app.query_one("#compose-model", Select).value == "default"
        await ready(app, pilot)
        assert field(app, "form").value == "AABB" and not app.query_one("#bars-field").display
        fill(app, count="2", part_bars="2", temperature="0.9", key="D", meter="6/8")
        await pilot.click("#compose-seed")
        await pilot.press("7", "enter")  # Enter in a field composes
        await settle(pilot)
        assert [tune.tokens for tune in app.query_one(ComposePane).tunes] == [tune.tokens for tune in expected]
        assert table_rows(app) == [["", t.title, t.melody.key.name, "6/8", "4", str(t.seed)] for t in expected]
        roll = app.query_one("#tune-roll", PianoRoll)
        first, second = expected
        assert first.melody.key.name.startswith("D ")  # the key asked for
        kind = first.provenance["tune"]["type"]["written"]
        assert roll.title == f"6/8 {kind} in {first.melody.key.name}: {first.title}"
        assert str(app.query_one("#tune-parts").content) == (
            f"{kind} AABB · A: bars 1-2 ×2 · B: bars 3-4 ×2 · 4 bars notated, 8 played")
        assert roll.notes == first.melody.notes and "█" in "".join(roll.plain_lines())
        await pilot.press("escape", "down")  # from the field to the tunes, then the next tune
        assert app.focused is app.query_one(TuneTable)
        assert roll.title.endswith(second.title) and roll.notes == second.melody.notes
        assert app.query_one("#compose-progress", TaskProgress).status == "seeds 7-8: 2 tunes from default"
        assert not messages(app, "error")

    drive(home, script)


def test_a_blank_seed_draws_one_and_shows_it(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="1", part_bars="2", seed="")
        seed = app.query_one(ComposePane).tunes[0].seed
        assert app.query_one("#compose-progress", TaskProgress).status == f"seed {seed}: 1 tune from default"
        assert table_rows(app)[0][-1] == str(seed)
        expected = expected_tunes(home, None, count=1, part_bars=2, seed=seed)
        assert app.query_one(ComposePane).tunes[0].tokens == expected[0].tokens

    drive(home, script)


def test_composing_runs_in_a_worker_and_the_interface_answers_meanwhile(home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    original = compose_module.load_model

    def held(*args):
        assert release.wait(30), "the test never released the composing"
        return original(*args)

    monkeypatch.setattr(compose_module, "load_model", held)

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await ready(app, pilot)
        fill(app, count="1", part_bars="2", seed="3")
        await pilot.click("#compose-button")
        progress = app.query_one("#compose-progress", TaskProgress)
        try:
            await wait_until(pilot, lambda: progress.status == "Loading model default ...")
            assert app.query_one("#compose-button").disabled
            assert app.focused is app.query_one(TuneTable)  # the disabled button hands the focus on
            await pilot.press("g")
            assert "already composing" in messages(app, "warning")[-1]
            await pilot.press("?")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
        finally:
            release.set()
        await settle(pilot)
        assert len(app.query_one(ComposePane).tunes) == 1 and not app.query_one("#compose-button").disabled

    drive(home, script)


def test_a_primer_file_opens_every_tune(home: Path) -> None:
    primer = Melody([Note(67, 0, 1), Note(71, 1, 2), Note(74, 2, 3)], bars=[0.0], meter="3/4")
    write_midi(primer, home / "primer.mid")

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="2", part_bars="4", seed="1", primer="primer.mid")  # inside the project
        for tune in app.query_one(ComposePane).tunes:
            assert [(n.pitch, n.start) for n in tune.melody.notes[:3]] == [(67, 0.0), (71, 1.0), (74, 2.0)]
            assert tune.melody.meter == "3/4" and tune.provenance["primer"] == "file: primer.mid"

    drive(home, script)


# --- the model picker --------------------------------------------------------------------------


def test_the_picker_offers_the_default_then_music_runs_with_a_checkpoint(runs_home: Path) -> None:
    choices = model_choices(runs_home)
    assert choices[0] == (DEFAULT_LABEL, "default")
    assert [value for _, value in choices] == ["default", "tiny"]  # not the grammar run, not the unstarted one
    assert choices[1][0] == "tiny (notts, mle, finished)"


def test_a_run_composes_and_a_run_finished_elsewhere_appears_by_itself(runs_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "project"
    shutil.copytree(runs_home, home, symlinks=True)
    expected = expected_tunes(home, "tiny", count=2, bars=2, seed=5)

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        select = app.query_one("#compose-model", Select)
        select.value = "tiny"
        await generate(app, pilot, count="2", bars="2", seed="5")
        assert [t.tokens for t in app.query_one(ComposePane).tunes] == [t.tokens for t in expected]
        assert app.query_one(ComposePane).tunes[0].provenance["model"]["name"] == "tiny"
        fill(app, bars="600")  # a window model's length, checked as the default's bars a strain are
        await pilot.press("g")
        await settle(pilot)
        assert messages(app, "error")[-1] == "bars must be a whole number from 1 to 512, e.g. 16"
        shutil.copytree(home / "checkpoints" / "tiny", home / "checkpoints" / "later")
        info = json.loads((home / "checkpoints" / "later" / "run.json").read_text())
        (home / "checkpoints" / "later" / "run.json").write_text(json.dumps({**info, "name": "later"}))
        form = app.query_one("#compose-form")
        await wait_until(pilot, lambda: form.border_subtitle == "2 music runs")  # the app watches the folder
        assert select.value == "tiny"  # the choice survives the reload
        select.value = "later"  # refused (InvalidSelectValueError) were it not offered

    drive(home, script)


# --- exporting ---------------------------------------------------------------------------------


def test_export_writes_the_marked_tunes_and_never_overwrites(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported"

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="3", part_bars="2", seed="11")
        tunes = app.query_one(ComposePane).tunes
        app.query_one("#format-abc", Checkbox).value = True
        app.query_one("#export-folder", Input).value = str(out)
        await pilot.press("t", "space", "down", "down", "enter")  # marks tunes 1 and 3
        assert app.query_one(TuneTable).marked == {0, 2} and table_rows(app)[0][0] == "✓"
        await pilot.press("e")
        await settle(pilot)
        stems = [file_stem(1, tunes[0].seed, tunes[0].title), file_stem(3, tunes[2].seed, tunes[2].title)]
        written = sorted(f"{stem}{suffix}" for stem in stems for suffix in (".abc", ".json", ".mid"))
        assert sorted(p.name for p in out.iterdir()) == written
        assert messages(app, "information")[-1] == f"wrote 6 files (.abc, .json, .mid) for 2 tunes to {out}"
        for stem, tune in zip(stems, (tunes[0], tunes[2])):
            melody = read_midi_melody(out / f"{stem}.mid", stem)  # the MIDI plays the repeats out
            assert [n.pitch for n in melody.notes] == [n.pitch for n in played_out(tune.melody).notes]
            assert melody.meter == tune.melody.meter
            score = converter.parse(str(out / f"{stem}.abc")).stripTies()
            assert [n.pitch.midi for n in score.recurse().notes if n.isNote] == [n.pitch for n in tune.melody.notes]
            assert json.loads((out / f"{stem}.json").read_text())["tokens"] == " ".join(tune.tokens)
        await pilot.press("a", "a")  # all, then none: the highlighted tune (the third) is exported
        assert not app.query_one(TuneTable).marked
        app.query_one("#format-abc", Checkbox).value = False
        await pilot.click("#export-button")
        await settle(pilot)
        assert (out / f"{stems[1]}-2.mid").is_file() and len(list(out.iterdir())) == 8  # the first copy is kept

    drive(home, script)


# --- bad input ---------------------------------------------------------------------------------


BAD_FIELDS = [
    ("count", "0", "count must be a whole number from 1 to 100, e.g. 8"),
    ("count", "many", "count must be a whole number"),
    ("part_bars", "600", "part bars must be a whole number from 1 to 64, e.g. 8"),
    ("temperature", "0", "temperature must be a number above 0, e.g. 0.9"),
    ("temperature", "hot", "temperature must be a number above 0"),
    ("seed", "-4", "seed must be a whole number from 0 to 999999999, e.g. 42, or blank for a random one"),
    ("key", "H major", "invalid key 'H major'"),
    ("meter", "7/3", "invalid meter '7/3'"),
    ("primer", "missing.mid", "primer file {home}/missing.mid does not exist"),
    ("primer", "notes.txt", "primer file {home}/notes.txt cannot be used"),
]


def test_bad_input_in_every_field_is_refused_with_one_line_and_nothing_runs(home: Path) -> None:
    (home / "notes.txt").write_text("not a MIDI file")

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await ready(app, pilot)
        defaults = {name: field(app, name).value for name, _, _ in BAD_FIELDS}
        for name, value, expected in BAD_FIELDS:
            fill(app, **{**defaults, name: value})
            await pilot.press("g")
            await settle(pilot)
            errors = messages(app, "error")
            assert errors and errors[-1].startswith(expected.format(home=home)), (name, value, errors)
            assert "\n" not in errors[-1] and "Traceback" not in errors[-1]
        assert len(messages(app, "error")) == len(BAD_FIELDS)
        assert not app.query_one(TuneTable).row_count and not app.query_one("#compose-button").disabled
        await pilot.press("e")  # nothing composed yet: nothing to export
        assert "compose tunes first" in messages(app, "error")[-1]
        assert app.is_running

    drive(home, script)
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]


def test_bad_export_settings_are_refused_and_write_nothing(home: Path, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="1", part_bars="2", seed="2")
        folder = app.query_one("#export-folder", Input)
        app.query_one("#format-mid", Checkbox).value = False
        await pilot.press("e")
        assert messages(app, "error")[-1] == "check at least one format to export: mid, abc, wav, musicxml"
        app.query_one("#format-wav", Checkbox).value = True
        folder.value = "  "
        await pilot.press("e")
        assert messages(app, "error")[-1].startswith("enter the folder to export to")
        folder.value = str(tmp_path / "a-file" / "tunes")
        await pilot.click("#export-button")
        await settle(pilot)
        assert messages(app, "error")[-1].startswith(f"cannot create output folder {tmp_path / 'a-file' / 'tunes'}")
        assert str(app.query_one("#export-status").content) == "nothing was written"
        assert not app.query_one("#export-button").disabled and len(messages(app, "error")) == 3

    drive(home, script)
    assert not (home / "tunes").exists()


# --- playing -----------------------------------------------------------------------------------


def test_play_without_a_player_says_which_players_are_looked_for(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_module, "find_player", lambda: None)

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await pilot.press("p")
        assert "compose tunes first" in messages(app, "warning")[-1]
        await generate(app, pilot, count="1", part_bars="2", seed="4")
        await pilot.press("p")
        await settle(pilot)
        assert messages(app, "warning")[-1] == ("no audio player found (tried aplay, paplay, afplay, ffplay): "
                                                "export the tune as WAV (e) and open it in any audio player")
        assert not app.query_one("#play-button").disabled

    drive(home, script)


def test_play_hands_a_wav_of_the_tune_to_the_player_without_blocking(home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    release, played = threading.Event(), []

    def fake_play(path: Path) -> str:
        played.append((path, path.is_file(), path.read_bytes()[:4]))
        assert release.wait(30), "the test never ended the playback"
        return "aplay"

    monkeypatch.setattr(compose_module, "find_player", lambda: ("aplay", ["-q"]))
    monkeypatch.setattr(compose_module, "play_file", fake_play)

    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="2", part_bars="2", seed="6")
        tunes = app.query_one(ComposePane).tunes
        await pilot.click("#play-button")
        try:
            await wait_until(pilot, lambda: bool(played))
            path, existed, header = played[0]
            assert existed and header == b"RIFF" and path.name == f"{file_stem(1, 6, tunes[0].title)}.wav"
            await pilot.press("t", "down")  # the interface answers while the tune plays
            assert app.query_one("#tune-roll", PianoRoll).notes == tunes[1].melody.notes
            await pilot.press("p")
            assert "still playing" in messages(app, "warning")[-1]
        finally:
            release.set()
        await settle(pilot)
        assert messages(app, "information")[-1] == f"played {tunes[0].title} with aplay"
        assert not path.exists()  # the temporary WAV is gone
        assert len(played) == 1

    drive(home, script)


# --- the layout and the help -------------------------------------------------------------------


def test_layout_fits_80_by_24_and_the_help_lists_the_keys(home: Path) -> None:
    async def script(app: SeqganApp, pilot: Pilot) -> None:
        await generate(app, pilot, count="2", part_bars="4", seed="9")  # eight bars notated
        for selector in ("#compose-model", "#compose-primer", "#compose-button", "#tunes-table", "#roll-box",
                         "#play-button", "#export-folder", "#export-button"):
            region = app.query_one(selector).region
            assert region.width > 0 and region.height > 0 and region.bottom <= 23, selector
        roll = app.query_one("#tune-roll", PianoRoll)
        assert roll.region.y < 18 and roll.region.width >= 40  # eight bars fit uncropped, scrolled to the top
        assert not roll.grid().cropped and all(len(line) <= roll.content_size.width for line in roll.plain_lines())
        await pilot.press("question_mark")
        keys = dict((description, key) for _, _, rows in app.screen.sections for key, description in rows)
        for description, key in (("Generate", "g"), ("Play", "p"), ("Export", "e"), ("Mark", "space"),
                                 ("Mark all", "a"), ("Back to tunes", "esc"), ("To the tunes", "t / esc"),
                                 ("Form", "f"), ("Refresh", "r")):
            assert keys.get(description) == key, description

    drive(home, script, size=(80, 24))
